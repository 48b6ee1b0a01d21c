/*
 * Pretrain the MIM model with an IPPO masking policy (every patch an agent, shared actor, per-agent
 * critic) on the shipped ISBI stack's training sections, then print the last update's statistics.
 *
 * Run: node --import tsx examples/pretrain-ippo.ts [steps] [outDir]
 * (The same as: dbmim pretrain --agent ippo --data data/isbi2012_train.h5 --steps N --out DIR)
 */
import { buildPretraining, resolveConfig, selectBackend, type UpdateEvent } from '../src/index.js';

export async function main(
  steps = 64,
  outDir = 'out/pretrain-ippo',
  agent = 'ippo',
): Promise<UpdateEvent | null> {
  const backend = await selectBackend();
  const config = resolveConfig({
    seed: 1,
    data: { path: 'data/isbi2012_train.h5', trainZ: [0, 20] },
    model: { preset: 'tiny' },
    agent: { name: agent },
    train: { phase1Steps: steps, phase2Steps: 0, checkpointEvery: 32 },
  });
  const run = await buildPretraining(config, { outDir });
  let last: UpdateEvent | null = null;
  run.trainer.events$.subscribe((e) => {
    if (e.type === 'update') last = e;
    if (e.type === 'step' && e.step % 16 === 0)
      console.log(
        `step ${e.step}: MIM loss ${e.mimLoss.toFixed(4)}, mask ratio ${e.maskRatio.toFixed(2)}, reward ${e.reward.toFixed(3)}`,
      );
  });
  const r = await run.trainer.run();
  console.log(
    `${agent} on ${backend.name}: ${r.steps} steps in ${r.seconds.toFixed(1)} s, checkpoint ${r.checkpointDir}`,
  );
  run.dispose();
  return last;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const last = await main(Number(process.argv[2] ?? 64), process.argv[3] ?? 'out/pretrain-ippo');
  console.log(JSON.stringify(last?.stats ?? {}));
}

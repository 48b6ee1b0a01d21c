/*
 * Pretrain the MIM model with MAPPO: the same shared actor as IPPO, a centralized critic on the env's
 * global state (pooled tokens, membrane proxy, last ratio and loss) with the agent's own observation,
 * value normalization.
 * Phase 1 trains policy and model together; phase 2 freezes the policy and continues MIM training.
 *
 * Run: node --import tsx examples/pretrain-mappo.ts [phase1Steps] [phase2Steps] [outDir]
 */
import { buildPretraining, resolveConfig, selectBackend, TOKENS } from '../src/index.js';

export async function main(phase1 = 64, phase2 = 16, outDir = 'out/pretrain-mappo'): Promise<number> {
  await selectBackend();
  const config = resolveConfig({
    seed: 2,
    data: { path: 'data/isbi2012_train.h5', trainZ: [0, 20] },
    agent: { name: 'mappo' },
    reward: { reconstruction: 1, budget: 0.5, learningProgress: 1 },
    train: { phase1Steps: phase1, phase2Steps: phase2, checkpointEvery: 0 },
  });
  const run = await buildPretraining(config, { outDir });
  run.trainer.events$.subscribe((e) => {
    if (e.type === 'phase') console.log(`phase ${e.phase} from step ${e.step}`);
    if (e.type === 'update' && typeof e.stats.entropy === 'number')
      console.log(
        `update at ${e.step}: entropy ${e.stats.entropy.toFixed(3)}, value loss ${Number(e.stats.valueLoss).toFixed(3)}`,
      );
  });
  const r = await run.trainer.run();
  // The trainer handed its encoder to the run's encoder sink, which publishes it under a DI token.
  const enc = run.container.resolve(TOKENS.PretrainedEncoder) as { weights: unknown[] };
  console.log(
    `done: ${r.steps} steps, final MIM loss ${r.finalMimLoss.toFixed(4)}, ${enc.weights.length} encoder tensors published`,
  );
  run.dispose();
  return r.finalMimLoss;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  await main(
    Number(process.argv[2] ?? 64),
    Number(process.argv[3] ?? 16),
    process.argv[4] ?? 'out/pretrain-mappo',
  );
}

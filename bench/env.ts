/*
 * MaskingEnv throughput: `npm run bench -- --only env`, or directly `node --import tsx bench/env.ts [--steps 8]`.
 * Tiny model preset, crops 16x64x64 (64 patch agents each), 4 envs, real MIM model on a synthetic volume.
 * One row per reward setting: env steps/s (one step = one MIM update on 4 crops + observing 4 new crops)
 * and agent decisions/s (steps/s x 4 envs x 64 agents), from the median step time (the machine is shared).
 */
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { createMaskingEnv } from '../src/tasks/create-masking-env.js';

interface BenchEnvOptions {
  /** Timed steps per setting (after 2 warm-up steps). */
  steps?: number;
}

const SETTINGS: { name: string; reward: Record<string, number> }[] = [
  { name: 'default rewards (reconstruction + budget)', reward: {} },
  { name: '+ learning-progress + membrane-proxy', reward: { learningProgress: 1, membraneProxy: 1 } },
];

export async function benchEnv(opts: BenchEnvOptions = {}): Promise<object[]> {
  const steps = opts.steps ?? 8;
  const rows: object[] = [];
  for (const s of SETTINGS) {
    const config = resolveConfig({
      model: { preset: 'tiny', crop: [16, 64, 64] },
      env: { numEnvs: 4, horizon: 1000 },
      reward: s.reward,
      data: { syntheticShape: [32, 128, 128] },
    });
    const env = await createMaskingEnv(config);
    const rng = Rng.fromSeed(0);
    const n = env.numEnvs * env.numAgents;
    const act = () => Int32Array.from({ length: n }, () => (rng.bernoulli(config.env.targetRatio) ? 1 : 0));
    env.reset({ seed: 0 });
    for (let i = 0; i < 2; i++) env.step(act());
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const a = act();
      const t0 = performance.now();
      env.step(a);
      ms.push(performance.now() - t0);
    }
    env.close();
    ms.sort((a, b) => a - b);
    const median = ms[Math.floor(ms.length / 2)]!;
    rows.push({
      bench: 'env',
      setting: s.name,
      preset: 'tiny',
      crop: config.model.crop,
      numEnvs: env.numEnvs,
      agentsPerEnv: env.numAgents,
      stepMs: Number(median.toFixed(1)),
      envStepsPerSec: Number((1000 / median).toFixed(2)),
      agentDecisionsPerSec: Math.round((1000 / median) * n),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--steps');
  await selectBackend();
  for (const r of await benchEnv(i >= 0 ? { steps: Number(process.argv[i + 1]) } : {}))
    console.log(JSON.stringify(r));
}

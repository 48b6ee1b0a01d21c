import type { ConfigInput } from '../src/core/config.js';

/**
 * The smallest benchmark config the end-to-end tests run (synthetic 16x64x64, crops 4x64x64 within it, a
 * one-block encoder, a few MIM updates and finetuning steps): seconds per run, every stage exercised.
 */
export const TINY_BENCH_CONFIG: ConfigInput = {
  data: { syntheticShape: [16, 64, 64] },
  model: { crop: [4, 64, 64], embedDim: 32, depth: 1, heads: 2, decoderDim: 32, decoderHeads: 2 },
  env: { numEnvs: 2, horizon: 2 },
  ppo: { rolloutSteps: 2 },
  train: { phase1Steps: 2, phase2Steps: 1, checkpointEvery: 0 },
  finetune: { steps: 3, batchSize: 1, validEvery: 0 },
};

import type { ConfigInput } from '../../core/config.js';

/*
 * Benchmark presets: the same MIM budget (updates x crops) for every policy, the same segmentation
 * recipe after it. `quick` is sized to finish the README's `npm start` in minutes on 2 CPU cores;
 * `full` is the longer comparison.
 */

export interface BenchPreset {
  name: 'quick' | 'full';
  policies: string[];
  seeds: number[];
  /** Config of every run (seed and agent set per run). */
  config: ConfigInput;
  /** Include the no-pretraining control. */
  scratch: boolean;
}

/**
 * Sections of the shipped ISBI stack: training (pretraining and finetuning), validation (segmentation
 * parameters are chosen there) and test (scored once).
 */
export const ISBI_SPLIT = {
  trainZ: [0, 16] as [number, number],
  validZ: [16, 20] as [number, number],
  evalZ: [20, 30] as [number, number],
  labelsKey: 'volumes/labels/neuron_ids',
  evalLabelsKey: 'volumes/labels/neuron_ids_2d',
};

const common: ConfigInput = {
  // 4 x 128 x 128 crops (50 nm sections, 4 nm pixels: 200 nm x 512 nm): in-plane context for the affinity
  // network's U-Net, and a 16-section training stack is no longer always cut at z 0 (see AffinityNet)
  model: { preset: 'tiny', crop: [4, 128, 128] },
  env: { numEnvs: 4, horizon: 8 },
  ppo: { rolloutSteps: 8 },
  eval: { mode2d: true },
};

/** Segmentation is scored per section (`eval.mode2d`): the loss goes to the y and x affinities only. */
const FINETUNE_2D: ConfigInput['finetune'] = { channelWeights: [0, 1, 1] };

export const PRESETS: Record<BenchPreset['name'], BenchPreset> = {
  quick: {
    name: 'quick',
    policies: ['random', 'mixed', 'ippo', 'mappo'],
    seeds: [1],
    scratch: true,
    config: {
      ...common,
      train: { phase1Steps: 96, phase2Steps: 32, checkpointEvery: 0 },
      finetune: { steps: 200, batchSize: 2, validEvery: 0, ...FINETUNE_2D },
    },
  },
  full: {
    name: 'full',
    policies: ['random', 'edge', 'mixed', 'block', 'ippo', 'mappo'],
    seeds: [1, 2, 3],
    scratch: true,
    config: {
      ...common,
      // Same reward as quick (config defaults: relative reconstruction + budget). The reference's raw
      // `reconstruction` term pays for masking more and collapses policies to the max ratio.
      train: { phase1Steps: 800, phase2Steps: 400, checkpointEvery: 200 },
      finetune: { steps: 600, batchSize: 2, validEvery: 0, ...FINETUNE_2D },
    },
  },
};

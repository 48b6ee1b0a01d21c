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
  model: { preset: 'tiny' },
  env: { numEnvs: 4, horizon: 8 },
  ppo: { rolloutSteps: 8 },
  eval: { mode2d: true },
};

export const PRESETS: Record<BenchPreset['name'], BenchPreset> = {
  quick: {
    name: 'quick',
    policies: ['random', 'mixed', 'ippo', 'mappo'],
    seeds: [1],
    scratch: true,
    config: {
      ...common,
      train: { phase1Steps: 96, phase2Steps: 32, checkpointEvery: 0 },
      finetune: { steps: 200, batchSize: 2, validEvery: 0 },
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
      finetune: { steps: 600, batchSize: 2, validEvery: 0 },
    },
  },
};

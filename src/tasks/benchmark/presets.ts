import type { ConfigInput } from '../../core/config.js';

/*
 * Benchmark presets: the same MIM budget (updates x crops) for every policy, the same segmentation
 * recipe after it, at the preset's label budgets and readouts. `quick` is sized to finish the README's
 * `npm start` in minutes on 2 CPU cores; `full` is the longer comparison; `calibrate` checks that the
 * instrument sees the effect it must see (pretrained `random` vs `scratch` with few labels).
 */

/** Labelled crops finetuning may use: k crops drawn once per seed from the training sections, or all. */
export type LabelBudget = number | 'all';
/** How the encoder is read out: frozen (`probe`, only the decoder learns) or finetuned with it. */
export type Readout = 'probe' | 'finetune';

/** The benchmark's preset names. */
export const PRESET_NAMES = ['quick', 'full', 'calibrate'] as const;

/** A named benchmark recipe: encoder rows, seeds, label budgets, readouts and the run config. */
export interface BenchPreset {
  name: (typeof PRESET_NAMES)[number];
  policies: string[];
  seeds: number[];
  /** Config of every run (seed and agent set per run). */
  config: ConfigInput;
  /** Include the no-pretraining control (`scratch`; under the probe: a frozen random encoder). */
  scratch: boolean;
  /** The label budgets each readout runs at (every encoder row gets all of them). */
  readouts: Partial<Record<Readout, LabelBudget[]>>;
  /**
   * Positive control: a `random-long` row, random masking pretrained this many times the preset's MIM
   * updates; 0 = none.
   */
  longPretrain: number;
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

/** The shipped presets: `quick` (`npm start`), `full` and `calibrate` (does the instrument detect pretraining?). */
export const PRESETS: Record<BenchPreset['name'], BenchPreset> = {
  quick: {
    name: 'quick',
    // Two policies and scratch, each read out twice (probe with 16 labelled crops, finetuning with all
    // labels): about the work of the former five finetunes, with two label budgets.
    policies: ['random', 'ippo'],
    seeds: [1],
    scratch: true,
    readouts: { probe: [16], finetune: ['all'] },
    longPretrain: 0,
    config: {
      ...common,
      train: { phase1Steps: 96, phase2Steps: 32, checkpointEvery: 0 },
      // 1,200 finetuning steps, chosen on validation sections 16-19 (scratch, all labels, seeds 1-3; the
      // learning-free control: VOI sum 0.481, ARAND 0.135): VOI sum 0.336-0.342 at 400 steps, 0.212-0.299
      // at 800, 0.186-0.243 at 1,200 (better than 400 on every seed); ARAND 0.072-0.101 / 0.037-0.090 /
      // 0.034-0.044; validation affinity loss 0.318-0.327 / 0.291-0.297 / 0.279-0.283. The largest budget
      // measured, and about the most `npm start` can spend within its minutes.
      finetune: { steps: 1200, batchSize: 2, validEvery: 0, ...FINETUNE_2D },
    },
  },
  full: {
    name: 'full',
    policies: ['random', 'edge', 'mixed', 'block', 'ippo', 'mappo'],
    seeds: [1, 2, 3],
    scratch: true,
    readouts: { probe: [4, 16, 'all'], finetune: [4, 16, 64, 'all'] },
    longPretrain: 4,
    config: {
      ...common,
      // Same reward as quick (config defaults: relative reconstruction + budget). The reference's raw
      // `reconstruction` term pays for masking more and collapses policies to the max ratio.
      train: { phase1Steps: 800, phase2Steps: 400, checkpointEvery: 200 },
      // 2,000 steps: the scratch control reaches 0.30-0.31 validation VOI sum on ISBI (seed 1, lr 1e-2)
      finetune: { steps: 2000, batchSize: 2, validEvery: 0, ...FINETUNE_2D },
    },
  },
  calibrate: {
    name: 'calibrate',
    // The effect the instrument must see first: pretraining (random masking) against none, where labels
    // are scarce. Three seeds for a t interval; `random-long` is the positive control.
    policies: ['random'],
    seeds: [1, 2, 3],
    scratch: true,
    readouts: { probe: [4, 16], finetune: [4, 16] },
    longPretrain: 4,
    config: {
      ...common,
      // 1,024 MIM updates: at 256 (the earlier preset) frozen pretrained features were not told from
      // frozen random ones on test (token probe, k=16, affinity loss +0.001 [-0.010, +0.013]); at 1,024
      // they were (-0.010 [-0.014, -0.006], 3/3; and on validation -0.010 [-0.015, -0.005])
      train: { phase1Steps: 768, phase2Steps: 256, checkpointEvery: 0 },
      finetune: { steps: 200, batchSize: 2, validEvery: 0, ...FINETUNE_2D },
    },
  },
};

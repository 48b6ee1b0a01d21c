/*
 * The record of one benchmark run (one policy, one seed) and of the whole benchmark. results.json holds
 * these verbatim; the report is computed from them only.
 */

import type { SegmentationScores } from '../eval/metrics.js';
import type { SegmentationParams } from '../eval/tune.js';
import type { PairedDifference } from './paired-stats.js';
import type { LabelBudget, Readout } from './presets.js';

/** Scores of one segmentation against ground truth (CREMI conventions). */
export type Scores = SegmentationScores;

export interface PretrainRecord {
  steps: number;
  seconds: number;
  finalMimLoss: number;
  /** Per env step. */
  mimLoss: number[];
  /**
   * The held-out MIM loss on fixed validation crops under a fixed mask (`train.heldOutEvery`; absent in
   * results written before it existed, empty when the run had no validation volume).
   */
  heldOut?: HeldOutPoint[];
  reward: number[];
  maskRatio: number[];
  /** Last update's diagnostics (entropy, masks on membrane-rich patches, saturation). */
  diagnostics: Record<string, number>;
}

/** One held-out MIM loss measurement: masked-patch MSE, the per-patch-mean baseline and their ratio. */
export interface HeldOutPoint {
  /** MIM updates done. */
  step: number;
  loss: number;
  baseline: number;
  ratio: number;
}

/** One readout of a run's encoder at one label budget: finetuned, predicted, segmented, scored. */
export interface EvaluationRecord {
  readout: Readout;
  labelBudget: LabelBudget;
  /** Which sections (and which labelled crops) this evaluation trained, chose and scored on. */
  split: SplitRecord;
  /**
   * The labelled crops finetuning drew from: how many and a fingerprint of their voxels and labels (the
   * same at a seed for every row); null for `all` (random crops of the whole training part).
   */
  labelCrops: { k: number; shape: [number, number, number]; sha256: string } | null;
  finetune: { steps: number; seconds: number; trainLoss: number[]; validLoss: number | null };
  predict: { seconds: number; voxels: number };
  /** Segmenting and scoring: the parameter search on validation, then the test sweep. */
  segment: { seconds: number };
  /** Segmentation parameters chosen on the validation sections, with the validation scores. */
  validation: SegmentationParams & { scores: Scores };
  /** Test scores at the parameters chosen on validation: the evaluation's result. */
  test: Scores & SegmentationParams;
  /**
   * The finetuning objective of the predicted affinities on the validation and test sections (no
   * segmentation involved). Absent in records written before it existed.
   */
  affinityLoss?: { validation: number; test: number };
  /**
   * Test scores at every threshold of the sweep (seed dynamic as chosen): for reading the curve only,
   * never for choosing.
   */
  perThreshold: (Scores & { threshold: number })[];
}

/** One run: an encoder row and seed, pretrained once, then read out at every budget and readout. */
export interface RunRecord {
  /** The row: a policy, `scratch` or a control (`random-long`). */
  policy: string;
  seed: number;
  /** Null for the `scratch` control (no pretraining). */
  pretrain: PretrainRecord | null;
  evaluations: EvaluationRecord[];
  /** Figures' raw material: the policy's mask over one crop's middle section, `[gridY, gridX]` 0/1. */
  maskPreview: {
    section: number[];
    mask: number[];
    grid: [number, number, number];
    crop: [number, number, number];
  } | null;
}

/** A paired comparison over seeds of a row with its baseline, at one readout, label budget and score. */
export interface ComparisonRecord extends PairedDifference {
  row: string;
  /** `random` (policy comparison) or `scratch` (pretraining vs none). */
  baseline: string;
  readout: Readout;
  labelBudget: LabelBudget;
  score: ComparedScore;
}

/** Scores compared per seed: VOI sum and ARAND of the segmentation, and the affinity loss. */
export type ComparedScore = 'voi_sum' | 'arand' | 'affinity_loss';

/**
 * A learning-free control: smoothed raw intensity as node affinities through the same segmentation, its
 * parameters chosen on the same validation sections. Deterministic, so one row, no seeds.
 */
export interface ControlRecord {
  name: string;
  description: string;
  validation: SegmentationParams & { scores: Scores };
  test: Scores & SegmentationParams;
}

/** Which sections (or synthetic volumes) each part of the protocol used. */
export interface SplitRecord {
  train: string;
  valid: string;
  test: string;
}

/** A run that ended without a result (its worker was killed, or it raised); a re-run executes it. */
export interface FailedRun {
  policy: string;
  seed: number;
  error: string;
}

/** `results.json` of a benchmark: split, runs (per readout and label budget), controls and paired comparisons. */
export interface BenchmarkResults {
  format: 'dbmim-benchmark';
  version: 2;
  preset: string;
  data: string;
  backend: string;
  startedAt: string;
  policies: string[];
  seeds: number[];
  split: SplitRecord;
  config: unknown;
  /** Label budgets per readout, as run. */
  readouts: Partial<Record<Readout, LabelBudget[]>>;
  /** Paired differences over seeds (each policy - random, each pretrained row - scratch). */
  comparisons: ComparisonRecord[];
  runs: RunRecord[];
  controls: ControlRecord[];
  /** Runs that ended without a result (absent when every run finished). */
  failed?: FailedRun[];
}

/*
 * The record of one benchmark run (one policy, one seed) and of the whole benchmark. results.json holds
 * these verbatim; the report is computed from them only.
 */

import type { SegmentationScores } from '../eval/metrics.js';

/** Scores of one segmentation against ground truth (CREMI conventions). */
export type Scores = SegmentationScores;

export interface PretrainRecord {
  steps: number;
  seconds: number;
  finalMimLoss: number;
  /** Per env step. */
  mimLoss: number[];
  reward: number[];
  maskRatio: number[];
  /** Last update's diagnostics (entropy, masks on membrane-rich patches, saturation). */
  diagnostics: Record<string, number>;
}

export interface RunRecord {
  policy: string;
  seed: number;
  /** Null for the `scratch` control (no pretraining). */
  pretrain: PretrainRecord | null;
  finetune: { steps: number; seconds: number; trainLoss: number[]; validLoss: number | null };
  predict: { seconds: number; voxels: number };
  segment: { seconds: number };
  evaluate: { seconds: number };
  /** One entry per agglomeration threshold. */
  perThreshold: (Scores & { threshold: number })[];
  /** The threshold with the lowest VOI sum (the field's usual report). */
  best: Scores & { threshold: number };
  /** Figures' raw material: the policy's mask over one crop's middle section, `[gridY, gridX]` 0/1. */
  maskPreview: {
    section: number[];
    mask: number[];
    grid: [number, number, number];
    crop: [number, number, number];
  } | null;
}

/** A run that ended without a result (its worker was killed, or it raised); a re-run executes it. */
export interface FailedRun {
  policy: string;
  seed: number;
  error: string;
}

export interface BenchmarkResults {
  format: 'dbmim-benchmark';
  version: 1;
  preset: string;
  data: string;
  backend: string;
  startedAt: string;
  policies: string[];
  seeds: number[];
  config: unknown;
  runs: RunRecord[];
  /** Runs that ended without a result (absent when every run finished). */
  failed?: FailedRun[];
}

import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import type { LabelArray } from './labels.js';
import { evaluateSegmentation, type SegmentationScores } from './metrics.js';
import { segment } from './segment.js';
import type { SeedMode } from './watershed.js';

/*
 * Segmentation parameters are chosen on validation sections and then applied, unchanged, to the test
 * sections: this module is the one place that chooses them. It sees only the volume it is given, so a
 * caller that passes the validation volume cannot leak test labels into the choice.
 */

/** The parameters that matter for a segmentation: seeding dynamic and the agglomeration threshold. */
export interface SegmentationParams {
  seeds: SeedMode;
  /** Seed dynamic (see `WatershedOptions.seedH`). */
  seedH: number;
  /** Mean-affinity merge threshold. */
  threshold: number;
}

/** The grid {@link chooseSegmentation} searches: every seedH with every threshold. */
export interface SegmentationGrid {
  seeds: SeedMode;
  seedH: number[];
  thresholds: number[];
}

/** Default grid for `hminima` seeds on maps in [0, 1]. */
export const DEFAULT_SEGMENTATION_GRID: SegmentationGrid = {
  seeds: 'hminima',
  seedH: [0.02, 0.05, 0.1, 0.2, 0.3],
  thresholds: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
};

/** Volume, labels and scoring conventions shared by choosing and applying. */
export interface SegmentationTask {
  affinities: Float32Array;
  shape: Shape3;
  /** Ground truth of this volume (0 = ignored). */
  labels: LabelArray;
  resolution?: Shape3;
  mode2d?: boolean;
  minSize?: number;
  borderNm?: number;
}

/** One grid point's scores. */
export interface ScoredParams extends SegmentationParams {
  scores: SegmentationScores;
}

function score(task: SegmentationTask, labels: Uint32Array): SegmentationScores {
  return evaluateSegmentation(task.labels, labels, {
    shape: task.shape,
    ...(task.resolution ? { resolution: task.resolution } : {}),
    mode2d: task.mode2d ?? false,
    ...(task.borderNm ? { borderNm: task.borderNm } : {}),
  });
}

/** Segment `task` with every threshold at one seeding: one watershed, one agglomeration sweep. */
export function scoreSweep(
  task: SegmentationTask,
  seeds: SeedMode,
  seedH: number,
  thresholds: number[],
): ScoredParams[];
/** The same, keeping each threshold's labels. */
export function scoreSweep(
  task: SegmentationTask,
  seeds: SeedMode,
  seedH: number,
  thresholds: number[],
  keepLabels: true,
): (ScoredParams & { labels: Uint32Array })[];
export function scoreSweep(
  task: SegmentationTask,
  seeds: SeedMode,
  seedH: number,
  thresholds: number[],
  keepLabels = false,
): (ScoredParams & { labels?: Uint32Array })[] {
  const segs = segment(task.affinities, task.shape, {
    thresholds,
    seeds,
    seedH,
    mode2d: task.mode2d ?? false,
    minSize: task.minSize ?? 0,
    ...(task.resolution ? { resolution: task.resolution } : {}),
  });
  return segs.map((s) => ({
    seeds,
    seedH,
    threshold: s.threshold,
    scores: score(task, s.labels),
    ...(keepLabels ? { labels: s.labels } : {}),
  }));
}

/**
 * Choose the parameters with the lowest VOI sum (ties: lower ARAND, then the grid's order) on a
 * validation volume. Returns the choice and the whole table.
 */
export function chooseSegmentation(
  validation: SegmentationTask,
  grid: SegmentationGrid = DEFAULT_SEGMENTATION_GRID,
): { best: ScoredParams; table: ScoredParams[] } {
  if (grid.seedH.length === 0 || grid.thresholds.length === 0)
    throw new InputError('segmentation grid: seedH and thresholds must be non-empty');
  const table = grid.seedH.flatMap((h) => scoreSweep(validation, grid.seeds, h, grid.thresholds));
  const best = table.reduce((a, b) =>
    b.scores.voi_sum < a.scores.voi_sum ||
    (b.scores.voi_sum === a.scores.voi_sum && b.scores.arand < a.scores.arand)
      ? b
      : a,
  );
  return { best, table };
}

/** Segment and score a volume with fixed parameters (chosen elsewhere). */
export function applySegmentation(
  task: SegmentationTask,
  params: SegmentationParams,
): { labels: Uint32Array; scores: SegmentationScores } {
  const [s] = scoreSweep(task, params.seeds, params.seedH, [params.threshold], true);
  return { labels: s!.labels, scores: s!.scores };
}

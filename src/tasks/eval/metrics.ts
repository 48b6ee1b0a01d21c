import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { borderMask } from './border-mask.js';
import { contingency } from './contingency.js';
import { labelIds, type LabelArray } from './labels.js';
import { adaptedRand, type PredZeroRule } from './rand.js';
import { variationOfInformation } from './voi.js';

/** Segmentation scores, CREMI conventions (lower is better for all of them). */
export interface SegmentationScores {
  /** H(pred | gt) in bits. */
  voi_split: number;
  /** H(gt | pred) in bits. */
  voi_merge: number;
  voi_sum: number;
  /** Adapted Rand error, 1 - F-score of Rand precision and recall. */
  arand: number;
  arand_precision: number;
  arand_recall: number;
  /** sqrt(voi_sum * arand). */
  cremi_score: number;
}

/** Options of {@link evaluateSegmentation}. */
export interface EvaluateOptions {
  /** Volume shape (z, y, x); both label arrays hold exactly this many voxels. */
  shape: Shape3;
  /** Voxel size in nm (z, y, x), used by `borderNm`. */
  resolution?: Shape3; // default [1, 1, 1]
  /**
   * Ignore ground-truth voxels within this in-section distance (nm) of a gt label boundary, CREMI's
   * `border_threshold` (CREMI uses 25 nm). Unset = no ignore; 0 ignores the boundary pixels only.
   */
  borderNm?: number;
  /** Score every z section on its own and average the per-section scores (sections with no gt skipped). */
  mode2d?: boolean; // default false
  /**
   * Adapted Rand: how voxels predicted 0 inside labelled gt count; 'cremi' (default, the official tool's
   * formula: c / n with n the scored voxels) or 'singletons' (c). See `PredZeroRule` in rand.ts.
   */
  arandPredZero?: PredZeroRule;
}

/**
 * Score a predicted segmentation against ground truth: variation of information (split, merge, sum, in
 * bits) and adapted Rand error with precision and recall, over the voxels where gt != 0, and the CREMI
 * score sqrt(voi_sum * arand). Labels may be any integer typed array, 64-bit ones as BigUint64Array.
 * In 2D mode voi_split, voi_merge, arand, precision and recall are section means; voi_sum and cremi_score
 * are computed from those means.
 */
export function evaluateSegmentation(
  gt: LabelArray,
  pred: LabelArray,
  opts: EvaluateOptions,
): SegmentationScores {
  const { shape } = opts;
  const [d, h, w] = shape;
  const n = d * h * w;
  if (gt.length !== n || pred.length !== n)
    throw new InputError(
      `evaluate: gt has ${gt.length} voxels and pred ${pred.length}, shape [${shape.join(', ')}] needs ${n}`,
    );
  const g = labelIds(gt, 'gt');
  const p = labelIds(pred, 'pred');
  let ignore: Uint8Array | undefined;
  if (opts.borderNm !== undefined) {
    if (!(opts.borderNm >= 0)) throw new InputError(`evaluate: borderNm must be >= 0, got ${opts.borderNm}`);
    const resolution = opts.resolution ?? [1, 1, 1];
    if (!resolution.every((r) => r > 0))
      throw new InputError(
        `evaluate: resolution must be positive (z, y, x nm), got [${resolution.join(', ')}]`,
      );
    ignore = borderMask(g, shape, resolution, opts.borderNm);
  }
  const ranges: [number, number][] = opts.mode2d
    ? Array.from({ length: d }, (_, z) => [z * h * w, (z + 1) * h * w])
    : [[0, n]];
  const acc = { split: 0, merge: 0, arand: 0, precision: 0, recall: 0 };
  let used = 0;
  for (const [start, end] of ranges) {
    const table = contingency(g, p, { start, end, ignore });
    if (table.n === 0) continue; // nothing labelled here
    const voi = variationOfInformation(table);
    const rand = adaptedRand(table, { predZero: opts.arandPredZero, voxels: end - start });
    acc.split += voi.split;
    acc.merge += voi.merge;
    acc.arand += rand.arand;
    acc.precision += rand.precision;
    acc.recall += rand.recall;
    used++;
  }
  if (used === 0)
    throw new InputError(
      `evaluate: the ground truth has no labelled voxel (all 0${ignore ? ' or within the border ignore' : ''})`,
    );
  const voi_split = acc.split / used;
  const voi_merge = acc.merge / used;
  const voi_sum = voi_split + voi_merge;
  const arand = acc.arand / used;
  return {
    voi_split,
    voi_merge,
    voi_sum,
    arand,
    arand_precision: acc.precision / used,
    arand_recall: acc.recall / used,
    cremi_score: Math.sqrt(voi_sum * arand),
  };
}

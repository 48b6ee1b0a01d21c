import type { ContingencyTable } from './contingency.js';

/** Adapted Rand error with its Rand precision and recall. */
export interface AdaptedRand {
  /** 1 - F-score of precision and recall (0 = perfect). */
  arand: number;
  precision: number;
  recall: number;
}

/**
 * How voxels predicted 0 inside labelled ground truth count. 'cremi' (default): as the official
 * cremi_python `adapted_rand` (the formula behind published CREMI numbers), c / n is added to sumB and
 * sumAB, n = every voxel of the scored volume (labelled or not). 'singletons': every such voxel is its own
 * segment, adding c, a voxel-pair count like the other terms (the unit-consistent reading of SNEMI3D).
 */
export type PredZeroRule = 'cremi' | 'singletons';

/** Options of {@link adaptedRand}. */
export interface AdaptedRandOptions {
  /** Default 'cremi'. */
  predZero?: PredZeroRule;
  /** Voxels of the scored volume including gt 0 and ignored ones (the 'cremi' rule's n; default t.n). */
  voxels?: number;
}

/**
 * Adapted Rand error as SNEMI3D / CREMI define it, over the voxels with gt != 0 (already excluded in the
 * table). With n_ij the pair counts, a_i the gt sizes, b_j the predicted sizes (j != 0) and c the number
 * of labelled voxels predicted 0:
 *   sumAB = sum_{i, j!=0} n_ij^2 + z,  sumA = sum_i a_i^2,  sumB = sum_{j!=0} b_j^2 + z,
 *   precision = sumAB / sumB,  recall = sumAB / sumA,  arand = 1 - 2PR / (P + R),
 * z = c / n ('cremi', default) or z = c ('singletons'); see {@link PredZeroRule}.
 */
export function adaptedRand(t: ContingencyTable, opts: AdaptedRandOptions = {}): AdaptedRand {
  const rule = opts.predZero ?? 'cremi';
  const voxels = opts.voxels ?? t.n;
  const a = new Map<number, number>();
  const b = new Map<number, number>();
  let sumAB = 0;
  let c = 0;
  for (const [key, count] of t.pairs) {
    const p = key % t.base;
    const g = (key - p) / t.base;
    a.set(g, (a.get(g) ?? 0) + count);
    if (p === 0) {
      c += count;
      continue;
    }
    b.set(p, (b.get(p) ?? 0) + count);
    sumAB += count * count;
  }
  let sumA = 0;
  for (const s of a.values()) sumA += s * s;
  let sumB = 0;
  for (const s of b.values()) sumB += s * s;
  const z = rule === 'cremi' ? (voxels > 0 ? c / voxels : 0) : c;
  sumAB += z;
  sumB += z;
  const precision = sumB > 0 ? sumAB / sumB : 0;
  const recall = sumA > 0 ? sumAB / sumA : 0;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { arand: 1 - f, precision, recall };
}

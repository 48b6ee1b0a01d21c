import type { ContingencyTable } from './contingency.js';

/** Adapted Rand error with its Rand precision and recall. */
export interface AdaptedRand {
  /** 1 - F-score of precision and recall (0 = perfect). */
  arand: number;
  precision: number;
  recall: number;
}

/**
 * Adapted Rand error as SNEMI3D / CREMI define it, over the voxels with gt != 0 (already excluded in the
 * table). With n_ij the pair counts, a_i the gt sizes, b_j the predicted sizes (j != 0) and c the number
 * of voxels predicted 0, each of which is its own singleton segment:
 *   sumAB = sum_{i, j!=0} n_ij^2 + c,  sumA = sum_i a_i^2,  sumB = sum_{j!=0} b_j^2 + c,
 *   precision = sumAB / sumB,  recall = sumAB / sumA,  arand = 1 - 2PR / (P + R).
 * (CREMI's Python adds c / n instead of c, an inconsistency of units; here every term is a voxel-pair count.)
 */
export function adaptedRand(t: ContingencyTable): AdaptedRand {
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
  sumAB += c;
  sumB += c;
  const precision = sumB > 0 ? sumAB / sumB : 0;
  const recall = sumA > 0 ? sumAB / sumA : 0;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { arand: 1 - f, precision, recall };
}

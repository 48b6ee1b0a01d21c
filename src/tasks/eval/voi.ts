import { marginals, type ContingencyTable } from './contingency.js';

/** Variation of information, in bits. */
export interface Voi {
  /** H(pred | gt): over-segmentation (one gt object cut into several predicted segments). */
  split: number;
  /** H(gt | pred): under-segmentation (several gt objects in one predicted segment). */
  merge: number;
}

/**
 * Variation of information from a contingency table (CREMI conventions: gt 0 already excluded; predicted
 * label 0 is an ordinary segment, as CREMI's `voi` with no `ignore_reconstruction`).
 * split = -sum_ij p_ij log2(p_ij / p_i), merge = -sum_ij p_ij log2(p_ij / q_j), with p_ij = n_ij / n,
 * p_i the gt marginal and q_j the prediction marginal.
 */
export function variationOfInformation(t: ContingencyTable): Voi {
  const { gt, pred } = marginals(t);
  const n = t.n;
  let split = 0;
  let merge = 0;
  for (const [key, c] of t.pairs) {
    const p = key % t.base;
    const g = (key - p) / t.base;
    split -= (c / n) * Math.log2(c / gt.get(g)!);
    merge -= (c / n) * Math.log2(c / pred.get(p)!);
  }
  // -0 and rounding below 0 read as 0.
  return { split: Math.max(0, split), merge: Math.max(0, merge) };
}

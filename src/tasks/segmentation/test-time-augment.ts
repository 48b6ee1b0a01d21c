import { InputError } from '../../core/errors.js';
import { applyGeometry, IDENTITY_PLAN, type AugmentPlan } from '../../data/augment.js';
import type { AffinityPredictor } from './predict.js';

/*
 * Test-time augmentation of an affinity predictor: every window is also predicted flipped along y, along
 * x, and with y and x swapped (the 8 symmetries of the square, the same group finetuning augments with),
 * each prediction is mapped back and the 8 are averaged. Averaging cancels much of the noise of a short
 * training run where it matters: along faint membranes (pytorch_connectomics does the same at inference).
 *
 * Mapping an affinity back is not only flipping it: the y affinity at voxel (y, x) is the edge to
 * (y - 1, x), so after a y flip the edge of voxel y sits at voxel H - y of the flipped prediction (one
 * off), and a swap of y and x turns y affinities into x affinities. Edges that have no partner in the
 * window (the first row or column) keep the unaugmented prediction.
 */

/** One in-plane symmetry of a square window: flips then (optionally) the y-x swap, as index maps. */
interface Symmetry {
  flipY: boolean;
  flipX: boolean;
  transpose: boolean;
}

/** The 8 symmetries of the square, identity first. */
export const SQUARE_SYMMETRIES: readonly Symmetry[] = [false, true].flatMap((transpose) =>
  [false, true].flatMap((flipY) => [false, true].map((flipX) => ({ flipY, flipX, transpose }))),
);

/** Apply `s` to each `[d, n, n]` window of `count`, with the training augmentation's own index map. */
function transformWindows(src: Float32Array, count: number, d: number, n: number, s: Symmetry): Float32Array {
  const plan: AugmentPlan = { ...IDENTITY_PLAN, ...s };
  const out = new Float32Array(src.length);
  const vol = d * n * n;
  for (let w = 0; w < count; w++)
    out.set(applyGeometry(plan, src.subarray(w * vol, (w + 1) * vol), [d, n, n]), w * vol);
  return out;
}

/**
 * Add the affinities `aug` (`[count, 3, d, n, n]`, predicted on windows transformed by `s`) mapped back
 * to the original frame into `acc`; `base` (the unaugmented prediction) fills edges without a partner.
 */
function accumulateBack(
  acc: Float32Array,
  aug: Float32Array,
  base: Float32Array,
  count: number,
  d: number,
  n: number,
  s: Symmetry,
): void {
  const plane = n * n;
  const vol = d * plane;
  for (let w = 0; w < count; w++) {
    for (let c = 0; c < 3; c++) {
      for (let z = 0; z < d; z++) {
        const dst = (w * 3 + c) * vol + z * plane;
        for (let y = 0; y < n; y++) {
          for (let x = 0; x < n; x++) {
            // the edge of original voxel (y, x) along channel c, found in the augmented frame:
            // its voxel is the image of (y, x); a flipped axis moves the edge's owner one voxel on
            const ay = c === 1; // original y edge: (y, x)-(y-1, x)
            const ax = c === 2; // original x edge: (y, x)-(y, x-1)
            let ty = s.flipY ? n - 1 - y + (ay ? 1 : 0) : y;
            let tx = s.flipX ? n - 1 - x + (ax ? 1 : 0) : x;
            if (ty >= n || tx >= n) {
              acc[dst + y * n + x]! += base[dst + y * n + x]!;
              continue;
            }
            // a swap of y and x: the voxel moves to (tx, ty) and a y edge becomes an x edge
            let ch = c;
            if (s.transpose) {
              [ty, tx] = [tx, ty];
              ch = c === 1 ? 2 : c === 2 ? 1 : c;
            }
            acc[dst + y * n + x]! += aug[(w * 3 + ch) * vol + z * plane + ty * n + tx]!;
          }
        }
      }
    }
  }
}

/**
 * A predictor that averages `model`'s affinities over the 8 in-plane symmetries of its window (8x the
 * forward passes). The window must be square in-plane (y == x).
 */
export function testTimeAugmented(model: AffinityPredictor): AffinityPredictor {
  const [d, h, w] = model.crop;
  if (h !== w)
    throw new InputError(
      `test-time augmentation: the window's in-plane size must be square, got [${model.crop}] (set eval.testTimeAugment false)`,
    );
  const n = h;
  return {
    crop: model.crop,
    predict(raw: Float32Array, count: number): Float32Array {
      const base = model.predict(raw, count);
      const acc = new Float32Array(base.length);
      for (const s of SQUARE_SYMMETRIES) {
        if (!s.flipX && !s.flipY && !s.transpose) {
          for (let i = 0; i < base.length; i++) acc[i]! += base[i]!;
          continue;
        }
        const aug = model.predict(transformWindows(raw, count, d, n, s), count);
        accumulateBack(acc, aug, base, count, d, n, s);
      }
      for (let i = 0; i < acc.length; i++) acc[i]! /= SQUARE_SYMMETRIES.length;
      return acc;
    },
  };
}

import { InputError } from '../core/errors.js';
import type { Shape3 } from './types.js';

/*
 * Per-patch statistics of a batch of crops, used as agent observations and loss weights.
 * Patch order inside a crop: grid z slowest, x fastest (the token order of the ViT).
 * The membrane proxy of a patch is its mean absolute in-plane intensity gradient divided by the crop's
 * mean of that gradient (docs/architecture.md, "Membrane proxy"): 1 = an average patch, > 1 = membrane-rich, 0 = flat.
 */

/** Added to the crop mean gradient so a flat crop gives 0 instead of 0 / 0. */
const EPS = 1e-6;

/** Patches per crop `[gz, gy, gx]`; an InputError when the crop is not a multiple of the patch. */
export function patchGrid(crop: Shape3, patch: Shape3): Shape3 {
  for (let i = 0; i < 3; i++) {
    if (!(patch[i]! >= 1) || crop[i]! % patch[i]! !== 0)
      throw new InputError(
        `crop [${crop.join(',')}] is not a multiple of patch [${patch.join(',')}]`,
        'bad-shape',
      );
  }
  return [crop[0] / patch[0], crop[1] / patch[1], crop[2] / patch[2]];
}

function checkSize(raw: Float32Array, batch: number, crop: Shape3): void {
  const n = batch * crop[0] * crop[1] * crop[2];
  if (raw.length !== n)
    throw new InputError(
      `raw has ${raw.length} values; batch ${batch} of crops [${crop.join(',')}] needs ${n}`,
      'bad-shape',
    );
}

/**
 * Sum `v` (one value per voxel of a crop, `[d, h, w]`) over each patch into `out[base + patchIndex]`.
 */
function sumPerPatch(
  v: Float32Array,
  vOff: number,
  crop: Shape3,
  patch: Shape3,
  grid: Shape3,
  out: Float64Array,
): void {
  const [d, h, w] = crop;
  for (let z = 0; z < d; z++) {
    const pz = Math.floor(z / patch[0]);
    for (let y = 0; y < h; y++) {
      const py = Math.floor(y / patch[1]);
      const row = vOff + (z * h + y) * w;
      const pRow = (pz * grid[1] + py) * grid[2];
      for (let x = 0; x < w; x++) out[pRow + Math.floor(x / patch[2])]! += v[row + x]!;
    }
  }
}

/**
 * Mean absolute in-plane gradient per voxel of one crop: |I(y, x+1) - I(y, x)| + |I(y+1, x) - I(y, x)|,
 * a difference counting 0 where the neighbour is outside the crop. `[d, h, w]`.
 */
export function gradientMagnitude(raw: Float32Array, offset: number, crop: Shape3): Float32Array {
  const [d, h, w] = crop;
  const g = new Float32Array(d * h * w);
  for (let z = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      const row = (z * h + y) * w;
      for (let x = 0; x < w; x++) {
        const i = row + x;
        const v = raw[offset + i]!;
        let s = 0;
        if (x + 1 < w) s += Math.abs(raw[offset + i + 1]! - v);
        if (y + 1 < h) s += Math.abs(raw[offset + i + w]! - v);
        g[i] = s;
      }
    }
  }
  return g;
}

/**
 * Membrane proxy per patch: `[batch * numPatches]`, patch mean of {@link gradientMagnitude} divided by the
 * crop's mean of it (plus a small epsilon).
 * @param raw `[batch, d, h, w]` float32
 */
export function patchMembraneProxy(
  raw: Float32Array,
  batch: number,
  crop: Shape3,
  patch: Shape3,
): Float32Array {
  const grid = patchGrid(crop, patch);
  checkSize(raw, batch, crop);
  const np = grid[0] * grid[1] * grid[2];
  const vox = crop[0] * crop[1] * crop[2];
  const pvox = patch[0] * patch[1] * patch[2];
  const out = new Float32Array(batch * np);
  const sums = new Float64Array(np);
  for (let b = 0; b < batch; b++) {
    const g = gradientMagnitude(raw, b * vox, crop);
    sums.fill(0);
    sumPerPatch(g, 0, crop, patch, grid, sums);
    let total = 0;
    for (let p = 0; p < np; p++) total += sums[p]!;
    const cropMean = total / vox;
    for (let p = 0; p < np; p++) out[b * np + p] = sums[p]! / pvox / (cropMean + EPS);
  }
  return out;
}

/**
 * Mean and (population) standard deviation of the raw intensity per patch, each `[batch * numPatches]`.
 * @param raw `[batch, d, h, w]` float32
 */
export function patchStats(
  raw: Float32Array,
  batch: number,
  crop: Shape3,
  patch: Shape3,
): { mean: Float32Array; std: Float32Array } {
  const grid = patchGrid(crop, patch);
  checkSize(raw, batch, crop);
  const np = grid[0] * grid[1] * grid[2];
  const vox = crop[0] * crop[1] * crop[2];
  const pvox = patch[0] * patch[1] * patch[2];
  const mean = new Float32Array(batch * np);
  const std = new Float32Array(batch * np);
  const s1 = new Float64Array(np);
  const s2 = new Float64Array(np);
  const [d, h, w] = crop;
  for (let b = 0; b < batch; b++) {
    const off = b * vox;
    s1.fill(0);
    s2.fill(0);
    sumPerPatch(raw, off, crop, patch, grid, s1);
    for (let p = 0; p < np; p++) s1[p] = s1[p]! / pvox;
    // Second pass around the patch mean (no E[x^2] - m^2 cancellation on flat patches).
    for (let z = 0; z < d; z++) {
      const pz = Math.floor(z / patch[0]);
      for (let y = 0; y < h; y++) {
        const pRow = (pz * grid[1] + Math.floor(y / patch[1])) * grid[2];
        const row = off + (z * h + y) * w;
        for (let x = 0; x < w; x++) {
          const p = pRow + Math.floor(x / patch[2]);
          const dv = raw[row + x]! - s1[p]!;
          s2[p]! += dv * dv;
        }
      }
    }
    for (let p = 0; p < np; p++) {
      mean[b * np + p] = s1[p]!;
      std[b * np + p] = Math.sqrt(s2[p]! / pvox);
    }
  }
  return { mean, std };
}

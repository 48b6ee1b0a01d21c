/*
 * Reconstruction targets of the MIM loss, computed in plain JS from the patchified crop:
 * per-patch normalized voxels (MAE's norm_pix_loss) and HOG features (the paper's extra target).
 */

/** Epsilon of the per-patch normalization (MAE uses 1e-6 on the variance). */
export const NORM_EPS = 1e-6;

/** Mean and std (with NORM_EPS) of row `r` of `patches` `[rows, pv]`: the MAE per-patch target statistics. */
export function patchMoments(patches: Float32Array, r: number, pv: number): { mean: number; std: number } {
  const o = r * pv;
  let s = 0;
  for (let i = 0; i < pv; i++) s += patches[o + i]!;
  const mean = s / pv;
  let s2 = 0;
  for (let i = 0; i < pv; i++) s2 += (patches[o + i]! - mean) ** 2;
  return { mean, std: Math.sqrt(s2 / pv + NORM_EPS) };
}

/** Normalize each row of `patches` `[rows, pv]` to zero mean and unit variance (in a new array). */
export function normalizePatches(patches: Float32Array, rows: number, pv: number): Float32Array {
  const out = new Float32Array(patches.length);
  for (let r = 0; r < rows; r++) {
    const { mean, std } = patchMoments(patches, r, pv);
    const inv = 1 / std;
    for (let i = r * pv; i < (r + 1) * pv; i++) out[i] = (patches[i]! - mean) * inv;
  }
  return out;
}

/** HOG layout: orientation bins and cell size (in-plane px). */
export interface HogOptions {
  /** Unsigned orientation bins over [0, pi). */
  bins: number;
  /** Cell edge in px (falls back to the whole slice when the patch is not a multiple). */
  cell: number;
}

export const HOG_DEFAULTS: HogOptions = { bins: 9, cell: 8 };

/** Features per patch for a patch shape (z, y, x). */
export function hogDim(patch: [number, number, number], o: HogOptions = HOG_DEFAULTS): number {
  const [pd, ph, pw] = patch;
  const cy = ph % o.cell === 0 ? ph / o.cell : 1;
  const cx = pw % o.cell === 0 ? pw / o.cell : 1;
  return pd * cy * cx * o.bins;
}

/**
 * Histogram of oriented gradients of each patch `[rows, pd*ph*pw] -> [rows, hogDim]`: per z-slice,
 * central in-plane differences (one-sided at the patch border), magnitude-weighted unsigned orientation
 * histograms per cell, each cell L2-normalized.
 */
export function hogFeatures(
  patches: Float32Array,
  rows: number,
  patch: [number, number, number],
  o: HogOptions = HOG_DEFAULTS,
): Float32Array {
  const [pd, ph, pw] = patch;
  const pv = pd * ph * pw;
  const cellY = ph % o.cell === 0 ? o.cell : ph;
  const cellX = pw % o.cell === 0 ? o.cell : pw;
  const ncy = ph / cellY;
  const ncx = pw / cellX;
  const dim = hogDim(patch, o);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const base = r * pv;
    for (let z = 0; z < pd; z++) {
      const sl = base + z * ph * pw;
      for (let y = 0; y < ph; y++) {
        for (let x = 0; x < pw; x++) {
          const at = (yy: number, xx: number) => patches[sl + yy * pw + xx]!;
          const gx = at(y, Math.min(pw - 1, x + 1)) - at(y, Math.max(0, x - 1));
          const gy = at(Math.min(ph - 1, y + 1), x) - at(Math.max(0, y - 1), x);
          const mag = Math.hypot(gx, gy);
          let ang = Math.atan2(gy, gx);
          if (ang < 0) ang += Math.PI;
          const bin = Math.min(o.bins - 1, Math.floor((ang / Math.PI) * o.bins));
          const cell = (z * ncy + Math.floor(y / cellY)) * ncx + Math.floor(x / cellX);
          out[r * dim + cell * o.bins + bin]! += mag;
        }
      }
    }
    const cells = dim / o.bins;
    for (let c = 0; c < cells; c++) {
      const off = r * dim + c * o.bins;
      let s = 0;
      for (let k = 0; k < o.bins; k++) s += out[off + k]! ** 2;
      const inv = 1 / Math.sqrt(s + 1e-6);
      for (let k = 0; k < o.bins; k++) out[off + k]! *= inv;
    }
  }
  return out;
}

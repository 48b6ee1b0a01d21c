import type { Shape3 } from '../data/types.js';

/*
 * Fixed 3-D sin-cos position embedding (MAE's 2-D recipe extended to z, y, x): the width is split into
 * three even parts, one per axis; each part holds sin and cos of the grid coordinate at geometric
 * frequencies 1 / 10000^(k / (part/2)).
 */

/** Width given to each axis (z, y, x): even parts summing to at most `dim` (the rest stays 0). */
export function sincosParts(dim: number): Shape3 {
  const base = Math.floor(dim / 3 / 2) * 2;
  const rest = Math.floor((dim - 2 * base) / 2) * 2;
  return [base, base, rest];
}

/** Sin-cos table `[numPatches, dim]` for a patch grid (patches z slowest, x fastest). */
export function sincosPosEmbed3d(grid: Shape3, dim: number): Float32Array {
  const [gz, gy, gx] = grid;
  const n = gz * gy * gx;
  const out = new Float32Array(n * dim);
  const parts = sincosParts(dim);
  for (let p = 0; p < n; p++) {
    const coord = [Math.floor(p / (gy * gx)), Math.floor(p / gx) % gy, p % gx];
    let col = 0;
    for (let a = 0; a < 3; a++) {
      const half = parts[a]! / 2;
      for (let k = 0; k < half; k++) {
        const omega = 1 / Math.pow(10000, half > 0 ? k / half : 0);
        out[p * dim + col + k] = Math.sin(coord[a]! * omega);
        out[p * dim + col + half + k] = Math.cos(coord[a]! * omega);
      }
      col += parts[a]!;
    }
  }
  return out;
}

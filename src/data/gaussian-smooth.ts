import { InputError } from '../core/errors.js';
import type { Shape3 } from './types.js';

/*
 * Gaussian smoothing of a volume with mirrored borders, separable (x, y, then z). Used by the
 * learning-free control's boundary map and by the affinity network's optional input smoothing.
 */

/** 1-D Gaussian taps of radius ceil(3 sigma), normalized to sum 1. */
function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= s;
  return k;
}

/** Convolve along one axis (stride `step`, length `n` lines from each base) with mirrored borders. */
function blurAxis(src: Float32Array, shape: Shape3, axis: 0 | 1 | 2, sigma: number): Float32Array {
  if (sigma <= 0) return src;
  const [d, h, w] = shape;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const n = shape[axis];
  const step = axis === 0 ? h * w : axis === 1 ? w : 1;
  const out = new Float32Array(src.length);
  const mirror = (i: number): number => {
    if (n === 1) return 0;
    const p = 2 * (n - 1);
    let j = ((i % p) + p) % p;
    if (j >= n) j = p - j;
    return j;
  };
  // the line with its mirrored borders: padded[i + r] = line[mirror(i)], so the taps need no index math
  const from = Int32Array.from({ length: n + 2 * r }, (_, i) => mirror(i - r));
  const padded = new Float64Array(n + 2 * r);
  const bases: number[] = [];
  for (let z = 0; z < (axis === 0 ? 1 : d); z++)
    for (let y = 0; y < (axis === 1 ? 1 : h); y++)
      for (let x = 0; x < (axis === 2 ? 1 : w); x++) bases.push(z * h * w + y * w + x);
  for (const base of bases) {
    for (let i = 0; i < padded.length; i++) padded[i] = src[base + from[i]! * step]!;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let t = 0; t < k.length; t++) s += k[t]! * padded[i + t]!;
      out[base + i * step] = s;
    }
  }
  return out;
}

/** Gaussian smoothing of a `[D, H, W]` volume: sigma in-plane, sigmaZ across sections. */
export function gaussianSmooth(raw: Float32Array, shape: Shape3, sigma: number, sigmaZ = 0): Float32Array {
  const n = shape[0] * shape[1] * shape[2];
  if (raw.length !== n)
    throw new InputError(`smooth: volume has ${raw.length} values, shape [${shape.join(', ')}] needs ${n}`);
  if (!(sigma >= 0) || !(sigmaZ >= 0))
    throw new InputError(`smooth: sigma must be >= 0, got ${sigma} (z: ${sigmaZ})`);
  return blurAxis(blurAxis(blurAxis(raw, shape, 2, sigma), shape, 1, sigma), shape, 0, sigmaZ);
}

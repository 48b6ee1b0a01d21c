import type { Shape3 } from '../../data/types.js';

/**
 * CREMI's boundary ignore (`create_border_mask`): per z section, a pixel is a border pixel when its label
 * differs from one of its 4 in-section neighbours (outside the image counts as the same label, CREMI's
 * edge padding; label 0 counts like any label); every pixel whose in-section Euclidean distance to a border
 * pixel is <= `borderNm` (in nm, using the y and x voxel sizes) is to be ignored, border pixels included.
 * @returns Uint8Array `[D, H, W]`, 1 = ignore.
 */
export function borderMask(
  labels: ArrayLike<number>,
  shape: Shape3,
  resolution: Shape3,
  borderNm: number,
): Uint8Array {
  const [d, h, w] = shape;
  const hw = h * w;
  const [, ry, rx] = resolution;
  const limit = borderNm * borderNm;
  const out = new Uint8Array(d * hw);
  const f = new Float64Array(hw); // squared distance field of one section
  const line = new Float64Array(Math.max(h, w));
  const lineOut = new Float64Array(Math.max(h, w));
  const env = { v: new Int32Array(Math.max(h, w)), z: new Float64Array(Math.max(h, w) + 1) };
  for (let z = 0; z < d; z++) {
    const o = z * hw;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const i = o + y * w + x;
        const l = labels[i]!;
        const border =
          (y > 0 && labels[i - w] !== l) ||
          (y < h - 1 && labels[i + w] !== l) ||
          (x > 0 && labels[i - 1] !== l) ||
          (x < w - 1 && labels[i + 1] !== l);
        f[y * w + x] = border ? 0 : Infinity;
      }
    // Exact squared EDT: 1D lower envelopes along x, then along y.
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) line[x] = f[y * w + x]!;
      edt1d(line, w, rx, lineOut, env);
      for (let x = 0; x < w; x++) f[y * w + x] = lineOut[x]!;
    }
    for (let x = 0; x < w; x++) {
      for (let y = 0; y < h; y++) line[y] = f[y * w + x]!;
      edt1d(line, h, ry, lineOut, env);
      for (let y = 0; y < h; y++) out[o + y * w + x] = lineOut[y]! <= limit ? 1 : 0;
    }
  }
  return out;
}

/**
 * Felzenszwalb-Huttenlocher 1D squared distance transform with sample spacing `s`:
 * out[q] = min_p (s (q - p))^2 + f[p]. Infinite samples are skipped (no parabola).
 */
function edt1d(
  f: Float64Array,
  n: number,
  s: number,
  out: Float64Array,
  env: { v: Int32Array; z: Float64Array },
): void {
  const v = env.v;
  const zs = env.z;
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Infinity) continue;
    const xq = q * s;
    while (k >= 0) {
      const p = v[k]!;
      const xp = p * s;
      const cut = (fq + xq * xq - (f[p]! + xp * xp)) / (2 * (xq - xp));
      if (cut <= zs[k]!) k--;
      else {
        zs[++k] = cut;
        v[k] = q;
        break;
      }
    }
    if (k < 0) {
      k = 0;
      v[0] = q;
      zs[0] = -Infinity;
    }
  }
  if (k < 0) {
    for (let q = 0; q < n; q++) out[q] = Infinity;
    return;
  }
  zs[k + 1] = Infinity;
  let j = 0;
  for (let q = 0; q < n; q++) {
    const xq = q * s;
    while (zs[j + 1]! < xq) j++;
    const p = v[j]!;
    const dx = xq - p * s;
    out[q] = dx * dx + f[p]!;
  }
}

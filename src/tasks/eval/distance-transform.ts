import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';

/*
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012, "Distance transforms of sampled
 * functions"): one pass of the 1-D squared-distance transform (lower envelope of parabolas) per axis, so
 * linear time in the voxels. Used by the distance-transform watershed's seeds.
 */

const FAR = 1e20;

/**
 * 1-D squared distance transform of f (length n, stride `step` from `base`) in place, with parabolas
 * of curvature `w` (the squared voxel spacing along the axis). Scratch arrays are passed in to avoid
 * allocating per line.
 */
function transform1d(
  f: Float64Array,
  base: number,
  step: number,
  n: number,
  w: number,
  g: Float64Array,
  v: Int32Array,
  z: Float64Array,
): void {
  for (let i = 0; i < n; i++) g[i] = f[base + i * step]!;
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s: number;
    for (;;) {
      const p = v[k]!;
      s = (g[q]! + w * q * q - (g[p]! + w * p * p)) / (2 * w * (q - p));
      if (s <= z[k]! && k > 0) k--;
      else break;
    }
    if (s <= z[k]!) {
      // k === 0 and the new parabola is below the first one everywhere
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const p = v[k]!;
    f[base + q * step] = w * (q - p) * (q - p) + g[p]!;
  }
}

/**
 * Distance of every voxel with `inside[v] = 1` to the nearest voxel with `inside = 0`, in units of the
 * x voxel size (0 outside). In `mode2d` each section is transformed on its own (y/x only). A domain with
 * no outside voxel at all gets a large finite distance (1e10).
 * @returns Float32Array `[D, H, W]`.
 */
export function distanceTransform(
  inside: Uint8Array,
  shape: Shape3,
  opts: { mode2d?: boolean; resolution?: Shape3 } = {},
): Float32Array {
  const [d, h, w] = shape;
  const n = d * h * w;
  if (inside.length !== n)
    throw new InputError(`distance transform: mask has ${inside.length} values, shape [${shape}] needs ${n}`);
  const res = opts.resolution ?? [1, 1, 1];
  if (!res.every((r) => r > 0))
    throw new InputError(`distance transform: resolution must be positive, got [${res.join(', ')}]`);
  const wx = 1;
  const wy = (res[1] / res[2]) ** 2;
  const wz = (res[0] / res[2]) ** 2;
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) f[i] = inside[i] ? FAR : 0;
  const m = Math.max(d, h, w);
  const g = new Float64Array(m);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  const hw = h * w;
  for (let zz = 0; zz < d; zz++)
    for (let y = 0; y < h; y++) transform1d(f, zz * hw + y * w, 1, w, wx, g, v, z);
  for (let zz = 0; zz < d; zz++) for (let x = 0; x < w; x++) transform1d(f, zz * hw + x, w, h, wy, g, v, z);
  if (!opts.mode2d && d > 1) for (let i = 0; i < hw; i++) transform1d(f, i, hw, d, wz, g, v, z);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f[i]! >= FAR / 2 ? 1e10 : Math.sqrt(f[i]!);
  return out;
}

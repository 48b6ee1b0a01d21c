import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';

/*
 * Conventions shared by the instance code. Affinities are `[3, D, H, W]` float32 in C order; channel 0 = z,
 * 1 = y, 2 = x. aff[c][v] is the affinity between voxel v and its neighbour at -1 along axis c (1 = same
 * object); on the first plane of an axis it has no neighbour and is ignored.
 */

/** Check that `affinities` holds `[3, ...shape]` finite values; returns the voxel count. */
export function checkAffinities(affinities: Float32Array, shape: Shape3, what = 'affinities'): number {
  const [d, h, w] = shape;
  if (![d, h, w].every((s) => Number.isInteger(s) && s > 0))
    throw new InputError(`${what}: shape must be 3 positive integers (z, y, x), got [${shape.join(', ')}]`);
  const n = d * h * w;
  if (affinities.length !== 3 * n)
    throw new InputError(
      `${what}: expected 3 x ${d} x ${h} x ${w} = ${3 * n} values ([3, D, H, W]), got ${affinities.length}`,
    );
  for (let i = 0; i < affinities.length; i++) {
    if (!Number.isFinite(affinities[i]!)) {
      const c = Math.floor(i / n);
      const v = i % n;
      throw new InputError(
        `${what}: non-finite value ${affinities[i]} at [${c}, ${Math.floor(v / (h * w))}, ${Math.floor(v / w) % h}, ${v % w}]`,
      );
    }
  }
  return n;
}

/**
 * Boundary probability per voxel from the affinities touching it: `1 - mean` (or `1 - max`) of the up to
 * 6 affinities (4 in 2D mode, y/x only) between the voxel and its face neighbours. Interior voxels of an
 * object get ~0, membrane voxels ~1. A voxel with no neighbour at all gets 0.
 * @returns Float32Array `[D, H, W]`.
 */
export function boundaryMap(
  affinities: Float32Array,
  shape: Shape3,
  opts: { reduce?: 'mean' | 'max'; mode2d?: boolean } = {},
): Float32Array {
  const n = checkAffinities(affinities, shape);
  const [d, h, w] = shape;
  const hw = h * w;
  const useMax = opts.reduce === 'max';
  const sum = new Float32Array(n); // sum or max of touching affinities
  const cnt = new Uint8Array(n);
  const c0 = opts.mode2d ? 1 : 0;
  for (let c = c0; c < 3; c++) {
    const off = c * n;
    const step = c === 0 ? hw : c === 1 ? w : 1;
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++) {
        const row = z * hw + y * w;
        for (let x = 0; x < w; x++) {
          const coord = c === 0 ? z : c === 1 ? y : x;
          if (coord === 0) continue; // no -1 neighbour on the first plane
          const v = row + x;
          const u = v - step;
          const a = affinities[off + v]!;
          if (useMax) {
            if (cnt[v] === 0 || a > sum[v]!) sum[v] = a;
            if (cnt[u] === 0 || a > sum[u]!) sum[u] = a;
          } else {
            sum[v] = sum[v]! + a;
            sum[u] = sum[u]! + a;
          }
          cnt[v] = cnt[v]! + 1;
          cnt[u] = cnt[u]! + 1;
        }
      }
  }
  const out = new Float32Array(n);
  for (let v = 0; v < n; v++) {
    const k = cnt[v]!;
    out[v] = k === 0 ? 0 : 1 - (useMax ? sum[v]! : sum[v]! / k);
  }
  return out;
}

import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { distanceTransform } from './distance-transform.js';
import { UnionFind } from './union-find.js';

/*
 * Watershed seeds robust to noisy boundary maps. Seeding at every local minimum of a noisy map (or at
 * every low-boundary component) puts several seeds in one object and over-splits it; the field's
 * pipelines seed instead from minima that are *deep enough*:
 * - `hMinimaSeeds`: minima whose dynamic (the height one must climb from the minimum to reach a deeper
 *   one) is at least h, i.e. the regional minima of the h-minima transform (scikit-image `h_minima`).
 * - `distanceSeeds`: the "distance-transform watershed": threshold the boundary map, take the distance
 *   of every object voxel to the nearest boundary voxel, and seed at its maxima of dynamic >= h voxels
 *   (so a ragged or gapped membrane does not split a cell into many seeds).
 * Both return seed labels 1..count (0 = not a seed), ready for the seeded flood of `watershed`.
 */

/** Seed labels: `labels[v]` in 1..count for seed voxels, 0 elsewhere (C order, `[D, H, W]`). */
export interface Seeds {
  labels: Uint32Array;
  count: number;
}

/** Neighbourhood options shared by the seed functions. */
export interface SeedGridOptions {
  /** Per-section mode: neighbours in y/x only, so seeds never span two sections. */
  mode2d?: boolean; // default false
}

// Face-neighbour offsets of voxel v in a [d, h, w] grid, skipping out-of-range ones.
function forEachNeighbour(v: number, shape: Shape3, mode2d: boolean, fn: (u: number) => void): void {
  const [d, h, w] = shape;
  const hw = h * w;
  const z = Math.floor(v / hw);
  const r = v - z * hw;
  const y = Math.floor(r / w);
  const x = r - y * w;
  if (x > 0) fn(v - 1);
  if (x < w - 1) fn(v + 1);
  if (y > 0) fn(v - w);
  if (y < h - 1) fn(v + w);
  if (!mode2d) {
    if (z > 0) fn(v - hw);
    if (z < d - 1) fn(v + hw);
  }
}

/**
 * Voxel indices in ascending order of `map` (voxels with `include[v] = 0` left out), by a counting sort
 * on 16-bit keys: linear time, ties (values within 1/65536 of the range) in index order.
 */
function ascendingOrder(map: Float32Array, include: Uint8Array | null): Uint32Array {
  const n = map.length;
  let lo = Infinity;
  let hi = -Infinity;
  let m = 0;
  for (let v = 0; v < n; v++) {
    if (include && !include[v]) continue;
    const x = map[v]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    m++;
  }
  const order = new Uint32Array(m);
  if (m === 0) return order;
  const B = 65536;
  const scale = hi > lo ? (B - 1) / (hi - lo) : 0;
  const key = new Uint16Array(n);
  const start = new Uint32Array(B + 1);
  for (let v = 0; v < n; v++) {
    if (include && !include[v]) continue;
    const k = Math.floor((map[v]! - lo) * scale);
    key[v] = k;
    start[k + 1]!++;
  }
  for (let k = 0; k < B; k++) start[k + 1]! += start[k]!;
  for (let v = 0; v < n; v++) {
    if (include && !include[v]) continue;
    order[start[key[v]!]!++] = v;
  }
  return order;
}

/**
 * Minima of `map` with dynamic >= `h`, grown to their h-plateau: each surviving minimum m labels the
 * voxels connected to it through values <= map[m] + h (the regional minimum of the h-minima transform).
 * The deepest minimum of every connected domain always survives, so every domain gets a seed.
 * Voxels with `include[v] = 0` (if given) are outside the domain: never seeds, never crossed.
 *
 * Dynamics by one pass of union-find flooding in ascending order: when two basins meet at level l, the
 * one with the higher minimum dies with dynamic l - its minimum.
 */
export function hMinimaSeeds(
  map: Float32Array,
  shape: Shape3,
  h: number,
  opts: SeedGridOptions & { include?: Uint8Array } = {},
): Seeds {
  const n = shape[0] * shape[1] * shape[2];
  if (map.length !== n)
    throw new InputError(`seeds: map has ${map.length} values, shape [${shape.join(', ')}] needs ${n}`);
  if (!(h >= 0)) throw new InputError(`seeds: h must be a number >= 0, got ${h}`);
  const mode2d = opts.mode2d ?? false;
  const include = opts.include ?? null;
  const order = ascendingOrder(map, include);
  const uf = new UnionFind(n);
  const minOf = new Int32Array(n); // root -> voxel of its basin's minimum
  const done = new Uint8Array(n);
  const dynamic = new Float64Array(n).fill(Infinity); // by minimum voxel; Infinity = never died
  const isMin = new Uint8Array(n);
  for (let i = 0; i < order.length; i++) {
    const v = order[i]!;
    done[v] = 1;
    minOf[v] = v;
    isMin[v] = 1;
    const level = map[v]!;
    forEachNeighbour(v, shape, mode2d, (u) => {
      if (!done[u]) return;
      const ru = uf.find(u);
      const rv = uf.find(v);
      if (ru === rv) return;
      const mu = minOf[ru]!;
      const mv = minOf[rv]!;
      // the basin with the higher minimum (later index on ties) dies at this level
      const uDeeper = map[mu]! < map[mv]! || (map[mu]! === map[mv]! && mu < mv);
      const [dying, keep] = uDeeper ? [mv, ru] : [mu, rv];
      if (dying === v)
        isMin[v] = 0; // a voxel that joins a basin at once is no minimum at all
      else dynamic[dying] = Math.min(dynamic[dying]!, level - map[dying]!);
      const child = keep === ru ? rv : ru;
      uf.link(child, keep);
    });
  }
  // Grow each surviving minimum to its plateau (breadth-first; a voxel reached twice keeps its first seed).
  const labels = new Uint32Array(n);
  let count = 0;
  const queue = new Int32Array(n);
  for (let i = 0; i < order.length; i++) {
    const m = order[i]!;
    if (!isMin[m] || dynamic[m]! < h || labels[m] !== 0) continue;
    const id = ++count;
    const limit = map[m]! + h;
    let head = 0;
    let tail = 0;
    labels[m] = id;
    queue[tail++] = m;
    while (head < tail) {
      const v = queue[head++]!;
      forEachNeighbour(v, shape, mode2d, (u) => {
        if (labels[u] !== 0 || map[u]! > limit || (include && !include[u])) return;
        labels[u] = id;
        queue[tail++] = u;
      });
    }
  }
  return { labels, count };
}

/** Options of {@link distanceSeeds}. */
export interface DistanceSeedOptions extends SeedGridOptions {
  /** Object voxels: boundary value below this. */
  threshold: number;
  /** Maxima of the distance transform need a dynamic of at least this many voxels (in-plane units). */
  h: number;
  /** Voxel size (z, y, x) for the 3-D distance; default isotropic. */
  resolution?: Shape3;
}

/**
 * Seeds of the distance-transform watershed: maxima (dynamic >= h) of the distance of each object voxel
 * (`boundary < threshold`) to the nearest boundary voxel, grown to their h-plateau inside the objects.
 */
export function distanceSeeds(boundary: Float32Array, shape: Shape3, opts: DistanceSeedOptions): Seeds {
  const n = shape[0] * shape[1] * shape[2];
  if (boundary.length !== n)
    throw new InputError(`seeds: map has ${boundary.length} values, shape [${shape.join(', ')}] needs ${n}`);
  const inside = new Uint8Array(n);
  for (let v = 0; v < n; v++) inside[v] = boundary[v]! < opts.threshold ? 1 : 0;
  const dist = distanceTransform(inside, shape, {
    mode2d: opts.mode2d ?? false,
    ...(opts.resolution ? { resolution: opts.resolution } : {}),
  });
  const neg = new Float32Array(n);
  for (let v = 0; v < n; v++) neg[v] = -dist[v]!;
  return hMinimaSeeds(neg, shape, opts.h, { mode2d: opts.mode2d ?? false, include: inside });
}

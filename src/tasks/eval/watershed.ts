import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { boundaryMap, checkAffinities } from './affinity-graph.js';
import { MinHeap } from './heap.js';
import { distanceSeeds, hMinimaSeeds } from './seeds.js';
import { UnionFind } from './union-find.js';

/**
 * How fragments are seeded:
 * - `hminima`: minima of the boundary map whose dynamic is at least `seedH` (robust to noise: a shallow
 *   dip inside an object is no seed), each grown to its h-plateau;
 * - `distance`: maxima (dynamic >= `seedH` voxels) of the distance transform of `boundary < seedThreshold`,
 *   the usual connectomics distance-transform watershed;
 * - `threshold`: every connected component of `boundary <= seedThreshold` linked by affinities
 *   >= `seedAffinity` (the original rule: exact on clean maps, over-splits noisy ones).
 */
export type SeedMode = 'hminima' | 'distance' | 'threshold';

/** Options of {@link watershed}. */
export interface WatershedOptions {
  /** Seeding rule (see {@link SeedMode}). */
  seeds?: SeedMode; // default 'hminima'
  /** `hminima`: minimum dynamic of a seed on the boundary map; `distance`: in voxels of the distance map. */
  seedH?: number; // default 0.1 (hminima), 2 (distance)
  /**
   * `threshold`: voxels whose boundary value (1 - mean touching affinity) is at most this seed fragments;
   * `distance`: voxels below it are object voxels (default 0.15 and 0.5).
   */
  seedThreshold?: number;
  /** Two neighbouring seed voxels join one seed only if the affinity between them is at least this. */
  seedAffinity?: number; // default 0.8
  /** `threshold`: seeds (connected seed voxels) smaller than this are dropped; their voxels are flooded. */
  minSeedSize?: number; // default 4 voxels
  /**
   * `threshold` mode only. The flood first grows only through edges of affinity >= this; what it leaves unreached and is linked
   * by such edges (a small object without a seed) becomes fragments of its own, then the flood finishes
   * through the weak edges (membrane voxels join their most affine neighbour).
   */
  floodAffinity?: number; // default 0.5
  /** Unreached components (of the >= floodAffinity graph) with at least this many voxels become fragments. */
  minOrphanSize?: number; // default 2 voxels
  /** How the boundary map reduces the affinities touching a voxel. */
  boundaryReduce?: 'mean' | 'max'; // default 'mean'
  /** Per-section (ISBI) mode: only y/x affinities; fragments never cross sections. */
  mode2d?: boolean; // default false
  /** Voxel size (z, y, x) for the 3-D distance transform of `distance` seeds; default isotropic. */
  resolution?: Shape3;
}

/** Fragments: `labels[v]` in 1..count for every voxel (C order, `[D, H, W]`). */
export interface Fragments {
  labels: Uint32Array;
  count: number;
}

// Neighbour directions: 0 z-1, 1 z+1, 2 y-1, 3 y+1, 4 x-1, 5 x+1.
const DIRS = 6;

/**
 * Seeded watershed on the affinity graph.
 * 1. Boundary map from the affinities ({@link boundaryMap}); seeds by `seeds` ({@link SeedMode}): by
 *    default minima of the boundary map deep enough (dynamic >= `seedH`) to be objects, not noise. The
 *    `threshold` rule takes connected components of low-boundary voxels, linked only through edges of
 *    affinity >= `seedAffinity`, at least `minSeedSize` voxels.
 * 2. Flood (Prim-like seeded region growing, i.e. the watershed cut of the edge-weighted graph with edge
 *    height 1 - affinity): repeatedly take the lowest edge from a labelled voxel to an unlabelled one and
 *    give the unlabelled voxel that label. A voxel thus joins the seed it is most strongly tied to, which
 *    is more faithful to the affinities than flooding the voxel boundary map (a membrane-corner voxel has
 *    a high boundary value whichever side it belongs to). Ties are first-in first-out.
 *    With `threshold` seeds the flood runs in two stages: first through edges of affinity >= `floodAffinity` only; then
 *    unreached components linked by such edges (>= `minOrphanSize` voxels: small objects whose seed was
 *    too small or absent) become new fragments; then the flood finishes through the weak edges.
 * 3. A domain without any fragment (a whole section in 2D mode, say) is flooded from its first voxel.
 * Fragment ids are 1..count: seeds in raster order of their first voxel, then orphans, then such domains.
 */
export function watershed(affinities: Float32Array, shape: Shape3, opts: WatershedOptions = {}): Fragments {
  const mode = opts.seeds ?? 'hminima';
  if (!['hminima', 'distance', 'threshold'].includes(mode))
    throw new InputError(`watershed: seeds must be 'hminima', 'distance' or 'threshold', got '${mode}'`);
  const seedThreshold = opts.seedThreshold ?? (mode === 'distance' ? 0.5 : 0.15);
  const seedH = opts.seedH ?? (mode === 'distance' ? 2 : 0.1);
  const seedAffinity = opts.seedAffinity ?? 0.8;
  const minSeedSize = opts.minSeedSize ?? 4;
  const floodAffinity = opts.floodAffinity ?? 0.5;
  const minOrphanSize = opts.minOrphanSize ?? 2;
  const mode2d = opts.mode2d ?? false;
  const n = checkAffinities(affinities, shape);
  if (n * DIRS > 0x7fffffff)
    throw new InputError(
      `watershed: volume [${shape.join(', ')}] has ${n} voxels, more than ${Math.floor(0x7fffffff / DIRS)}; segment it in blocks`,
    );
  const [d, h, w] = shape;
  const hw = h * w;
  const boundary = boundaryMap(affinities, shape, { reduce: opts.boundaryReduce, mode2d });

  // 2. Flood. Heap entries are edges `p * 6 + dir` from a labelled voxel p, priority 1 - affinity.
  const labels = new Uint32Array(n);
  let count = 0;
  const heap = new MinHeap(1 << 16);
  const pushEdges = (p: number): void => {
    const z = Math.floor(p / hw);
    const r = p - z * hw;
    const y = Math.floor(r / w);
    const x = r - y * w;
    if (!mode2d) {
      if (z > 0 && labels[p - hw] === 0) heap.push(1 - affinities[p]!, p * DIRS);
      if (z < d - 1 && labels[p + hw] === 0) heap.push(1 - affinities[p + hw]!, p * DIRS + 1);
    }
    if (y > 0 && labels[p - w] === 0) heap.push(1 - affinities[n + p]!, p * DIRS + 2);
    if (y < h - 1 && labels[p + w] === 0) heap.push(1 - affinities[n + p + w]!, p * DIRS + 3);
    if (x > 0 && labels[p - 1] === 0) heap.push(1 - affinities[2 * n + p]!, p * DIRS + 4);
    if (x < w - 1 && labels[p + 1] === 0) heap.push(1 - affinities[2 * n + p + 1]!, p * DIRS + 5);
  };
  const offsets = [-hw, hw, -w, w, -1, 1];
  // Pop edges while their height is <= maxHeight (the weak edges stay queued for the next stage).
  const flood = (maxHeight = Infinity): void => {
    while (heap.size > 0 && heap.peekPriority()! <= maxHeight) {
      const e = heap.pop();
      const p = Math.floor(e / DIRS);
      const q = p + offsets[e - p * DIRS]!;
      if (labels[q] !== 0) continue; // reached earlier through a lower edge
      labels[q] = labels[p]!;
      pushEdges(q);
    }
  };
  // A domain without any fragment (a whole section in 2D mode, say) is flooded from its first voxel.
  const floodUnreached = (): Fragments => {
    for (let v = 0; v < n; v++) {
      if (labels[v] !== 0) continue;
      labels[v] = ++count;
      pushEdges(v);
      flood();
    }
    return { labels, count };
  };

  if (mode !== 'threshold') {
    // 1. Robust seeds, then one flood over every edge (each basin already has its seed).
    const seeds =
      mode === 'hminima'
        ? hMinimaSeeds(boundary, shape, seedH, { mode2d })
        : distanceSeeds(boundary, shape, {
            threshold: seedThreshold,
            h: seedH,
            mode2d,
            ...(opts.resolution ? { resolution: opts.resolution } : {}),
          });
    labels.set(seeds.labels);
    count = seeds.count;
    for (let v = 0; v < n; v++) if (labels[v] !== 0) pushEdges(v);
    flood();
    return floodUnreached();
  }

  // 1. Threshold seeds: low-boundary voxels joined with their -1 neighbours across strong edges.
  const isSeed = new Uint8Array(n);
  for (let v = 0; v < n; v++) isSeed[v] = boundary[v]! <= seedThreshold ? 1 : 0;
  const grid = { affinities, shape, mode2d };
  count = labelComponents(grid, isSeed, seedAffinity, minSeedSize, labels, count);

  // 2. Flood in two stages: strong edges, then orphans, then the weak edges.
  for (let v = 0; v < n; v++) if (labels[v] !== 0) pushEdges(v);
  flood(1 - floodAffinity);
  // Orphans: unreached components of the strong-edge graph.
  const unreached = new Uint8Array(n);
  for (let v = 0; v < n; v++) unreached[v] = labels[v] === 0 ? 1 : 0;
  count = labelComponents(grid, unreached, floodAffinity, minOrphanSize, labels, count, pushEdges);
  flood();
  return floodUnreached();
}

/**
 * Components of the voxels with `inMask[v] = 1`, a voxel joined with its -1 neighbour (y/x only in 2D
 * mode) when both are in the mask and the affinity between them is >= `minAffinity`. Components of at
 * least `minSize` voxels get the ids count + 1, ... in raster order of their first voxel, written into
 * `labels` (`onLabel` is called for each voxel labelled); returns the new count.
 */
function labelComponents(
  grid: { affinities: Float32Array; shape: Shape3; mode2d: boolean },
  inMask: Uint8Array,
  minAffinity: number,
  minSize: number,
  labels: Uint32Array,
  count: number,
  onLabel?: (v: number) => void,
): number {
  const { affinities, shape, mode2d } = grid;
  const [d, h, w] = shape;
  const hw = h * w;
  const n = d * hw;
  const uf = new UnionFind(n);
  for (let c = mode2d ? 1 : 0; c < 3; c++) {
    const off = c * n;
    const step = c === 0 ? hw : c === 1 ? w : 1;
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0, v = z * hw + y * w; x < w; x++, v++) {
          const coord = c === 0 ? z : c === 1 ? y : x;
          if (coord === 0 || !inMask[v] || !inMask[v - step] || affinities[off + v]! < minAffinity) continue;
          uf.union(v - step, v);
        }
  }
  const size = new Int32Array(n);
  for (let v = 0; v < n; v++) if (inMask[v]) size[uf.find(v)]++;
  const rootLabel = new Uint32Array(n); // component root -> id (0 = none yet)
  for (let v = 0; v < n; v++) {
    if (!inMask[v]) continue;
    const r = uf.find(v);
    if (size[r]! < minSize) continue;
    if (rootLabel[r] === 0) rootLabel[r] = ++count;
    labels[v] = rootLabel[r]!;
    onLabel?.(v);
  }
  return count;
}

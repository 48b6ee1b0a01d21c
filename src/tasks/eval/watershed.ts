import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { boundaryMap, checkAffinities } from './affinity-graph.js';
import { BucketQueue } from './bucket-queue.js';
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
// Priority bands of the flood's bucket queue. Its binary heap holds one band: with 4096 bands it held
// ~90 entries on average at 512^2 sections and ~350 at 1024^2, with 65536 bands 6 and 22 (a replay of
// one flood's pushes and pops took 35-45 % less time at either size; the pop order is the same). A band
// moving into the heap then held 8.5 entries on average at 512^2 and 30 at 1024^2, so larger blocks get
// one band per FLOOD_VOXELS_PER_BAND voxels (262144 at 1024^2), up to FLOOD_BUCKETS_MAX (8 MB of lists).
const FLOOD_BUCKETS = 65536; // at least
const FLOOD_VOXELS_PER_BAND = 4;
const FLOOD_BUCKETS_MAX = 1 << 20;
// Where the flood's preloads go (read nowhere; kept so that the loads are not dropped).
let preloadSink = 0;

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

  // Blocks flooded one after the other: sections in 2D mode (no edge links them, and a section's heap
  // and arrays stay in cache: linear time), else the whole volume.
  const blocks = mode2d ? d : 1;
  const bn = n / blocks;

  // 2. Flood. Heap entries are edges `p * 6 + dir` from a labelled voxel p, priority 1 - affinity.
  let labels: Uint32Array = new Uint32Array(n);
  let count = 0;
  // Edge heights 1 - affinity lie within the affinities' range: a bucket queue (exact heap order).
  let aMin = Infinity;
  let aMax = -Infinity;
  for (let i = mode2d ? n : 0; i < 3 * n; i++) {
    const a = affinities[i]!;
    if (a < aMin) aMin = a;
    if (a > aMax) aMax = a;
  }
  const offsets = [-hw, hw, -w, w, -1, 1];
  // As an edge enters the heap (its band moved in, or pushed into the current band), load its target
  // voxel and what pushEdges will read around it: the loads of a whole band overlap, where each pop's
  // own loads would wait one by one (at 1024^2 sections, whose labels and affinities do not stay in
  // cache, the flood took ~28 % less time; at 512^2 ~15 %; the edges pushed straight into the heap and
  // the bands scaled with the block took another ~10 % off at 1024^2, nothing at 512^2). Only loads:
  // the order and the labels do not change.
  const preload = (e: number): void => {
    const p = Math.floor(e / DIRS);
    const q = p + offsets[e - p * DIRS]!;
    let s = labels[q]! + affinities[n + q]! + affinities[2 * n + q]!;
    if (q >= w) s += labels[q - w]!;
    if (q + w < n) s += labels[q + w]! + affinities[n + q + w]!;
    preloadSink = (preloadSink + s) | 0;
  };
  const bands = Math.min(FLOOD_BUCKETS_MAX, Math.max(FLOOD_BUCKETS, Math.floor(bn / FLOOD_VOXELS_PER_BAND)));
  const heap = new BucketQueue(1 - aMax, 1 - aMin, bands, preload);
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
  // Fragments made after the seeds, by kind: ids are renumbered at the end so that all orphans come
  // before all unreached domains (raster order within each), as if the volume were one block.
  const ORPHAN = 0;
  const DOMAIN = 1;
  const lateKinds: number[] = [];
  const pushBlockEdges = (lo: number): void => {
    for (let v = lo; v < lo + bn; v++) if (labels[v] !== 0) pushEdges(v);
  };
  // A domain without any fragment (a whole section in 2D mode, say) is flooded from its first voxel.
  const floodUnreached = (lo: number): void => {
    for (let v = lo; v < lo + bn; v++) {
      if (labels[v] !== 0) continue;
      labels[v] = ++count;
      lateKinds.push(DOMAIN);
      pushEdges(v);
      flood();
    }
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
    labels = seeds.labels;
    count = seeds.count;
    for (let lo = 0; lo < n; lo += bn) {
      pushBlockEdges(lo);
      flood();
      floodUnreached(lo);
    }
    return { labels, count }; // only domains after the seeds: already in raster order
  }

  // 1. Threshold seeds: low-boundary voxels joined with their -1 neighbours across strong edges.
  const grid = { affinities, shape, mode2d };
  const inMask = new Uint8Array(bn);
  const scratch = new ComponentScratch(bn);
  for (let lo = 0; lo < n; lo += bn) {
    for (let i = 0; i < bn; i++) inMask[i] = boundary[lo + i]! <= seedThreshold ? 1 : 0;
    count = labelComponents(grid, lo, bn, inMask, seedAffinity, minSeedSize, labels, count, scratch);
  }
  const seedCount = count;

  // 2. Flood in two stages: strong edges, then orphans, then the weak edges.
  for (let lo = 0; lo < n; lo += bn) {
    pushBlockEdges(lo);
    flood(1 - floodAffinity);
    // Orphans: unreached components of the strong-edge graph.
    for (let i = 0; i < bn; i++) inMask[i] = labels[lo + i] === 0 ? 1 : 0;
    const before = count;
    count = labelComponents(
      grid,
      lo,
      bn,
      inMask,
      floodAffinity,
      minOrphanSize,
      labels,
      count,
      scratch,
      pushEdges,
    );
    for (let id = before; id < count; id++) lateKinds.push(ORPHAN);
    flood();
    floodUnreached(lo);
  }
  // Renumber: seeds, then orphans, then unreached domains.
  if (lateKinds.some((k, i) => i > 0 && k < lateKinds[i - 1]!)) {
    const newId = new Uint32Array(lateKinds.length);
    let next = seedCount;
    for (const kind of [ORPHAN, DOMAIN])
      lateKinds.forEach((k, i) => {
        if (k === kind) newId[i] = ++next;
      });
    for (let v = 0; v < n; v++) if (labels[v]! > seedCount) labels[v] = newId[labels[v]! - seedCount - 1]!;
  }
  return { labels, count };
}

/** Scratch of {@link labelComponents} for blocks of up to n voxels. */
class ComponentScratch {
  readonly uf: UnionFind;
  readonly size: Int32Array;
  readonly rootLabel: Uint32Array; // component root -> id (0 = none yet)
  constructor(n: number) {
    this.uf = new UnionFind(n);
    this.size = new Int32Array(n);
    this.rootLabel = new Uint32Array(n);
  }
}

/**
 * Components of the voxels of the block `[lo, lo + bn)` (whole sections) with `inMask[v - lo] = 1`, a voxel
 * joined with its -1 neighbour inside the block (y/x only in 2D mode) when both are in the mask and the
 * affinity between them is >= `minAffinity`. Components of at least `minSize` voxels get the ids
 * count + 1, ... in raster order of their first voxel, written into `labels` (`onLabel` is called for each
 * voxel labelled); returns the new count.
 */
function labelComponents(
  grid: { affinities: Float32Array; shape: Shape3; mode2d: boolean },
  lo: number,
  bn: number,
  inMask: Uint8Array,
  minAffinity: number,
  minSize: number,
  labels: Uint32Array,
  count: number,
  scratch: ComponentScratch,
  onLabel?: (v: number) => void,
): number {
  const { affinities, shape, mode2d } = grid;
  const [, h, w] = shape;
  const hw = h * w;
  const n = shape[0] * hw;
  const bd = bn / hw; // sections in the block
  const { uf, size, rootLabel } = scratch;
  const parent = uf.parent;
  for (let i = 0; i < bn; i++) parent[i] = i;
  for (let c = mode2d ? 1 : 0; c < 3; c++) {
    const off = c * n + lo;
    const step = c === 0 ? hw : c === 1 ? w : 1;
    for (let z = 0; z < bd; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0, i = z * hw + y * w; x < w; x++, i++) {
          const coord = c === 0 ? z : c === 1 ? y : x;
          if (coord === 0 || !inMask[i] || !inMask[i - step] || affinities[off + i]! < minAffinity) continue;
          uf.union(i - step, i);
        }
  }
  size.fill(0, 0, bn);
  rootLabel.fill(0, 0, bn);
  for (let i = 0; i < bn; i++) if (inMask[i]) size[uf.find(i)]++;
  for (let i = 0; i < bn; i++) {
    if (!inMask[i]) continue;
    const r = uf.find(i);
    if (size[r]! < minSize) continue;
    if (rootLabel[r] === 0) rootLabel[r] = ++count;
    labels[lo + i] = rootLabel[r]!;
    onLabel?.(lo + i);
  }
  return count;
}

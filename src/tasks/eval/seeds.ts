import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { distanceTransform } from './distance-transform.js';

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

/**
 * Face neighbours of voxel v in a [d, h, w] grid (y/x only in 2D mode), written into `out`; returns how
 * many. Out-of-range neighbours are skipped. (An out-array instead of a callback: no closure per voxel.)
 */
export function faceNeighbours(v: number, shape: Shape3, mode2d: boolean, out: Int32Array): number {
  const [d, h, w] = shape;
  const hw = h * w;
  const z = Math.floor(v / hw);
  const r = v - z * hw;
  const y = Math.floor(r / w);
  const x = r - y * w;
  let k = 0;
  if (x > 0) out[k++] = v - 1;
  if (x < w - 1) out[k++] = v + 1;
  if (y > 0) out[k++] = v - w;
  if (y < h - 1) out[k++] = v + w;
  if (!mode2d) {
    if (z > 0) out[k++] = v - hw;
    if (z < d - 1) out[k++] = v + hw;
  }
  return k;
}

// Counting-sort keys: 16 bits over the value range of the whole map, so that a volume processed
// section by section orders (and breaks ties) exactly as it would in one piece.
const KEYS = 65536;

/** Key of value x: floor((x - lo) * scale), in 0..KEYS-1. */
interface KeyScale {
  lo: number;
  scale: number;
}

/** The key scale of `map` over the voxels with `include[v] = 1` (null when there is none). */
function keyScale(map: Float32Array, include: Uint8Array | null): KeyScale | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let v = 0; v < map.length; v++) {
    if (include && !include[v]) continue;
    const x = map[v]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (lo > hi) return null;
  return { lo, scale: hi > lo ? (KEYS - 1) / (hi - lo) : 0 };
}

/** Per-block scratch of the h-minima pass, allocated once for the largest block and reused. */
class HMinimaScratch {
  readonly order: Uint32Array;
  readonly key: Uint16Array;
  readonly start = new Uint32Array(KEYS + 1);
  // Per voxel, side by side (one cache line for a random access): [2v] union-find parent, [2v + 1] the
  // voxel of its basin's minimum (meaningful at roots).
  readonly node: Int32Array;
  // Per voxel: bits 0-1 state (0 not yet flooded, 1 flooded, 2 flooded and a minimum still a seed
  // candidate), bits 2-7 union-by-rank rank (< 32 for any block below 2^32 voxels).
  readonly flags: Uint8Array;
  readonly queue: Int32Array;
  readonly nb = new Int32Array(6);
  constructor(n: number) {
    this.order = new Uint32Array(n);
    this.key = new Uint16Array(n);
    this.node = new Int32Array(2 * n);
    this.flags = new Uint8Array(n);
    this.queue = new Int32Array(n);
  }
}

/**
 * Voxel indices of a block in ascending order of their key (ties in index order: a stable counting sort),
 * voxels with `include[v] = 0` left out. Returns how many were written to `s.order`.
 */
function ascendingOrder(
  map: Float32Array,
  include: Uint8Array | null,
  ks: KeyScale,
  s: HMinimaScratch,
): number {
  const n = map.length;
  const { key, start, order } = s;
  start.fill(0);
  let m = 0;
  for (let v = 0; v < n; v++) {
    if (include && !include[v]) continue;
    const k = Math.floor((map[v]! - ks.lo) * ks.scale);
    key[v] = k;
    start[k + 1]!++;
    m++;
  }
  for (let k = 0; k < KEYS; k++) start[k + 1]! += start[k]!;
  for (let v = 0; v < n; v++) {
    if (include && !include[v]) continue;
    order[start[key[v]!]!++] = v;
  }
  return m;
}

const FLOODED = 1;
const MINIMUM = 2;
const STATE = 3; // state bits of flags
const RANK1 = 4; // rank 1 in flags

/**
 * The h-minima pass on one block (the whole volume, or one section in 2D mode): seeds labelled 1..c in
 * `labels` (a zeroed view of the block) in ascending order of their minimum; returns each seed's
 * minimum voxel (block index), by id - 1.
 */
function hMinimaBlock(
  map: Float32Array,
  shape: Shape3,
  h: number,
  mode2d: boolean,
  include: Uint8Array | null,
  ks: KeyScale,
  labels: Uint32Array,
  s: HMinimaScratch,
): number[] {
  const m = ascendingOrder(map, include, ks, s);
  const { order, node, flags, queue, nb } = s;
  const n = map.length;
  flags.fill(0, 0, n);
  const find = (i: number): number => {
    // path halving on node[2i]
    while (node[2 * i] !== i) {
      const g = node[2 * node[2 * i]!]!;
      node[2 * i] = g;
      i = g;
    }
    return i;
  };
  // Dynamics by union-find flooding in ascending order: when two basins meet at level l, the one with
  // the higher minimum (later index on ties) dies with dynamic l - its minimum, and stays a seed
  // candidate only if that dynamic is at least h (a minimum dies once: its basin's minimum is the other
  // one from then on). Trees are joined by rank (node[2r + 1] keeps each root's basin minimum, so which
  // root survives does not matter).
  for (let i = 0; i < m; i++) {
    const v = order[i]!;
    flags[v] = MINIMUM;
    node[2 * v] = v;
    node[2 * v + 1] = v;
    const level = map[v]!;
    let rv = v;
    const k = faceNeighbours(v, shape, mode2d, nb);
    for (let j = 0; j < k; j++) {
      const u = nb[j]!;
      if ((flags[u]! & STATE) === 0) continue;
      const ru = find(u);
      if (ru === rv) continue;
      const mu = node[2 * ru + 1]!;
      const mv = node[2 * rv + 1]!;
      const uDeeper = map[mu]! < map[mv]! || (map[mu]! === map[mv]! && mu < mv);
      const dying = uDeeper ? mv : mu;
      if (dying === v)
        flags[v] = FLOODED; // a voxel that joins a basin at once is no minimum at all
      else if (level - map[dying]! < h) flags[dying] = (flags[dying]! & ~STATE) | FLOODED;
      const keepMin = uDeeper ? mu : mv;
      // union by rank
      let root = ru;
      let child = rv;
      const rankU = flags[ru]! >> 2;
      const rankV = flags[rv]! >> 2;
      if (rankU < rankV) [root, child] = [rv, ru];
      else if (rankU === rankV) flags[ru] = flags[ru]! + RANK1;
      node[2 * child] = root;
      node[2 * root + 1] = keepMin;
      rv = root;
    }
  }
  // Grow each surviving minimum to its plateau (breadth-first; a voxel reached twice keeps its first seed).
  const minima: number[] = [];
  for (let i = 0; i < m; i++) {
    const mv = order[i]!;
    if ((flags[mv]! & STATE) !== MINIMUM || labels[mv] !== 0) continue;
    minima.push(mv);
    const id = minima.length;
    const limit = map[mv]! + h;
    let head = 0;
    let tail = 0;
    labels[mv] = id;
    queue[tail++] = mv;
    while (head < tail) {
      const v = queue[head++]!;
      const k = faceNeighbours(v, shape, mode2d, nb);
      for (let j = 0; j < k; j++) {
        const u = nb[j]!;
        if (labels[u] !== 0 || map[u]! > limit || (include && !include[u])) continue;
        labels[u] = id;
        queue[tail++] = u;
      }
    }
  }
  return minima;
}

/**
 * Minima of `map` with dynamic >= `h`, grown to their h-plateau: each surviving minimum m labels the
 * voxels connected to it through values <= map[m] + h (the regional minimum of the h-minima transform).
 * The deepest minimum of every connected domain always survives, so every domain gets a seed.
 * Voxels with `include[v] = 0` (if given) are outside the domain: never seeds, never crossed.
 *
 * Dynamics by one pass of union-find flooding in ascending order (values quantized to 16 bits over the
 * map's range, ties in index order): when two basins meet at level l, the one with the higher minimum
 * dies with dynamic l - its minimum. Seed ids follow that order of their minima. In 2D mode each section
 * is flooded on its own (linear time: its arrays stay in cache), then ids are renumbered to that order.
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
  const labels = new Uint32Array(n);
  const ks = keyScale(map, include);
  if (!ks) return { labels, count: 0 };
  // Blocks: sections in 2D mode (nothing links them), else the whole volume.
  const blocks = mode2d ? shape[0] : 1;
  const bn = n / blocks;
  const blockShape: Shape3 = mode2d ? [1, shape[1], shape[2]] : shape;
  const scratch = new HMinimaScratch(bn);
  const minima: number[][] = [];
  for (let b = 0; b < blocks; b++) {
    const lo = b * bn;
    const hi = lo + bn;
    const inc = include ? include.subarray(lo, hi) : null;
    minima.push(
      hMinimaBlock(map.subarray(lo, hi), blockShape, h, mode2d, inc, ks, labels.subarray(lo, hi), scratch),
    );
  }
  const count = minima.reduce((a, m) => a + m.length, 0);
  if (blocks === 1) return { labels, count };
  // Global ids: ascending key of each seed's minimum, ties by voxel index (block order, then block order
  // of minima: a stable counting sort over the blocks in turn).
  const start = scratch.start;
  start.fill(0);
  const keyOf = (b: number, mv: number): number => Math.floor((map[b * bn + mv]! - ks.lo) * ks.scale);
  for (let b = 0; b < blocks; b++) for (const mv of minima[b]!) start[keyOf(b, mv) + 1]!++;
  for (let k = 0; k < KEYS; k++) start[k + 1]! += start[k]!;
  const firstOfBlock = new Int32Array(blocks + 1);
  for (let b = 0; b < blocks; b++) firstOfBlock[b + 1] = firstOfBlock[b]! + minima[b]!.length;
  const newId = new Uint32Array(count + 1); // block-major seed index + 1 -> global id
  for (let b = 0; b < blocks; b++)
    minima[b]!.forEach((mv, i) => (newId[firstOfBlock[b]! + i + 1] = start[keyOf(b, mv)]!++ + 1));
  for (let b = 0; b < blocks; b++) {
    const off = firstOfBlock[b]!;
    for (let v = b * bn; v < (b + 1) * bn; v++) if (labels[v] !== 0) labels[v] = newId[off + labels[v]!]!;
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

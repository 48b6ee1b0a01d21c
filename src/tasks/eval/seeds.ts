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

// Per-voxel record of the h-minima pass before the voxel's turn: not yet flooded (no valid parent).
const UNFLOODED = -0x80000000;

// The pass loads the records of the voxel PRELOAD_AHEAD places further in the order and of its y
// neighbours before they are needed: those loads overlap, where each voxel's own loads (random
// addresses, out of cache at 1024^2 sections) would wait one after the other behind mispredicted
// branches. At 1024^2 sections the pass took ~20-30 % less time (8-24 ahead alike), at 512^2 the same.
const PRELOAD_AHEAD = 16;
// Where the preloads go (read nowhere; kept so that the loads are not dropped).
let preloadSink = 0;

/** Per-block scratch of the h-minima pass, allocated once for the largest block and reused. */
class HMinimaScratch {
  readonly order: Uint32Array;
  readonly key: Uint16Array;
  readonly start = new Uint32Array(KEYS + 1);
  // Per voxel, 8 bytes side by side, so that one random access to a voxel (and to its x neighbours)
  // is one cache line. rec[2v] (Int32): UNFLOODED before v's turn, then its union-find parent (>= 0),
  // or at a root -1 - slot, slot = the candidate slot of its basin's minimum. value[2v + 1] (Float32,
  // the same buffer): v's own value before its turn (written by the sort), at a root its basin minimum's.
  readonly rec: Int32Array;
  readonly value: Float32Array;
  // Per candidate slot (minima in the order they were flooded): 1 once the minimum died with a dynamic
  // below h. A slot's voxel is kept in `order` (at index slot, which the pass has read already).
  readonly dead: Uint8Array;
  readonly queue: Int32Array;
  readonly nb = new Int32Array(6);
  constructor(n: number) {
    this.order = new Uint32Array(n);
    this.key = new Uint16Array(n);
    this.rec = new Int32Array(2 * n);
    this.value = new Float32Array(this.rec.buffer);
    this.dead = new Uint8Array(n);
    this.queue = new Int32Array(n);
  }
}

/**
 * Voxel indices of a block in ascending order of their key (ties in index order: a stable counting sort),
 * voxels with `include[v] = 0` left out. Returns how many were written to `s.order`. Also sets every
 * voxel's record to UNFLOODED with its own value (the pass then reads one cache line per voxel).
 */
function ascendingOrder(
  map: Float32Array,
  include: Uint8Array | null,
  ks: KeyScale,
  s: HMinimaScratch,
): number {
  const n = map.length;
  const { key, start, order, rec, value } = s;
  start.fill(0);
  let m = 0;
  for (let v = 0; v < n; v++) {
    rec[2 * v] = UNFLOODED;
    value[2 * v + 1] = map[v]!;
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
  const { order, rec, value, dead, queue, nb } = s;
  const find = (i: number): number => {
    // path halving; roots hold a negative record
    let p: number;
    while ((p = rec[2 * i]!) >= 0) {
      const g = rec[2 * p]!;
      if (g < 0) return p;
      rec[2 * i] = g;
      i = g;
    }
    return i;
  };
  // Dynamics by union-find flooding in ascending order: when two basins meet at level l, the one with
  // the higher minimum (later index on ties) dies with dynamic l - its minimum, and stays a seed
  // candidate only if that dynamic is at least h (a minimum dies once: its basin's minimum is the other
  // one from then on). Each voxel takes the next candidate slot on its turn and gives it back if it
  // joins a deeper basin at once (no minimum at all), so live slots are in flooding order: on equal
  // values (one key) that is index order, the tie-break. A root keeps its basin minimum's slot and
  // value, so which of two roots survives a union does not matter: the joining side's goes under (no
  // ranks: path halving alone keeps finds short, and the record stays 8 bytes).
  let slots = 0;
  const w = shape[2];
  const lastRow = map.length - w; // first voxel of the block's last row
  let sink = 0;
  for (let i = 0; i < m; i++) {
    const v = order[i]!;
    if (i + PRELOAD_AHEAD < m) {
      const q = order[i + PRELOAD_AHEAD]!;
      let x = rec[2 * q]!;
      if (q >= w) x += rec[2 * (q - w)]!;
      if (q < lastRow) x += rec[2 * (q + w)]!;
      sink = (sink + x) | 0;
    }
    const level = value[2 * v + 1]!;
    const own = slots++;
    order[own] = v; // own <= i: that part of the order is read
    dead[own] = 0;
    rec[2 * v] = -1 - own;
    let rv = v;
    let joined = false;
    const k = faceNeighbours(v, shape, mode2d, nb);
    for (let j = 0; j < k; j++) {
      const u = nb[j]!;
      if (rec[2 * u] === UNFLOODED) continue;
      const ru = find(u);
      if (ru === rv) continue;
      const su = -1 - rec[2 * ru]!;
      const sv = -1 - rec[2 * rv]!;
      const mu = value[2 * ru + 1]!;
      const mv = value[2 * rv + 1]!;
      const uDeeper = mu < mv || (mu === mv && su < sv);
      const dying = uDeeper ? sv : su;
      if (dying === own) joined = true;
      else if (level - (uDeeper ? mv : mu) < h) dead[dying] = 1;
      rec[2 * rv] = ru;
      rec[2 * ru] = -1 - (uDeeper ? su : sv);
      value[2 * ru + 1] = uDeeper ? mu : mv;
      rv = ru;
    }
    if (joined) slots--; // the last slot: v is no basin's minimum any more
  }
  preloadSink = (preloadSink + sink) | 0;
  // Grow each surviving minimum to its plateau (breadth-first; a voxel reached twice keeps its first seed).
  const minima: number[] = [];
  for (let slot = 0; slot < slots; slot++) {
    const mv = order[slot]!;
    if (dead[slot] || labels[mv] !== 0) continue;
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

import { InputError } from '../../core/errors.js';
import type { Shape3 } from '../../data/types.js';
import { checkAffinities } from './affinity-graph.js';
import { MinHeap } from './heap.js';
import { UnionFind } from './union-find.js';

/** Options of {@link agglomerate}. */
export interface AgglomerateOptions {
  /**
   * Merge thresholds on the mean affinity of a region boundary: at threshold t every pair of adjacent
   * regions whose boundary mean affinity is >= t is merged (so a lower t gives fewer, larger segments).
   */
  thresholds: number[];
  /** Per-section mode: z edges are ignored, so regions never merge across sections. */
  mode2d?: boolean; // default false
  /** After each threshold, regions under this many voxels merge into their strongest neighbour (0 = off). */
  minSize?: number; // default 0
}

/** One segmentation per threshold, in the order the thresholds were given. */
export interface ThresholdSegmentation {
  threshold: number;
  /** Segment ids 1..k (0 where the fragments were 0), C order `[D, H, W]`. */
  labels: Uint32Array;
}

/**
 * Region agglomeration by mean affinity (waterz-like), one pass for a whole threshold sweep.
 * Builds the region adjacency graph with the sum and count of the affinities on each boundary between
 * two fragments, then repeatedly merges the pair with the highest mean boundary affinity (binary heap,
 * union-find, stale heap entries skipped), adding the boundary statistics of the merged region's
 * neighbours. Thresholds are visited from high to low mean affinity; the labels are snapshot when the best
 * remaining edge falls under each one. Fragment id 0 is background: never merged, kept as 0.
 */
export function agglomerate(
  fragments: Uint32Array,
  affinities: Float32Array,
  shape: Shape3,
  opts: AgglomerateOptions,
): ThresholdSegmentation[] {
  const n = checkAffinities(affinities, shape);
  if (fragments.length !== n)
    throw new InputError(
      `agglomerate: fragments have ${fragments.length} voxels, affinities shape [3, ${shape.join(', ')}] needs ${n}`,
    );
  if (opts.thresholds.length === 0 || opts.thresholds.some((t) => !Number.isFinite(t)))
    throw new InputError(
      `agglomerate: thresholds must be a non-empty list of numbers, got [${opts.thresholds}]`,
    );
  const minSize = opts.minSize ?? 0;

  // Compact fragment ids to 0..k (0 stays 0).
  const { ids, count: k } = compactFragments(fragments);
  const size = new Float64Array(k + 1);
  for (let v = 0; v < n; v++) size[ids[v]!]++;

  // Region adjacency graph: boundary sum and count of the affinities between each pair of fragments.
  const { eu, ev, sum, cnt, m } = regionGraph(ids, affinities, shape, opts.mode2d ?? false);
  const alive = new Uint8Array(m).fill(1);
  // Adjacency of each region root: neighbour root -> edge index.
  const adj: Map<number, number>[] = Array.from({ length: k + 1 }, () => new Map());
  for (let e = 0; e < m; e++) {
    adj[eu[e]!]!.set(ev[e]!, e);
    adj[ev[e]!]!.set(eu[e]!, e);
  }
  const heap = new MinHeap(Math.max(16, m));
  for (let e = 0; e < m; e++) heap.push(-sum[e]! / cnt[e]!, e); // max-heap on mean affinity
  const uf = new UnionFind(k + 1);

  const merge = (a: number, b: number, e: number): void => {
    alive[e] = 0;
    // Keep the region with more neighbours as root: adjacency lists merge small into large.
    const [root, other] = adj[a]!.size >= adj[b]!.size ? [a, b] : [b, a];
    const ra = adj[root]!;
    ra.delete(other);
    for (const [nb, e2] of adj[other]!) {
      if (nb === root) continue;
      const an = adj[nb]!;
      an.delete(other);
      const e1 = ra.get(nb);
      if (e1 !== undefined) {
        // Both were adjacent to nb: pool the two boundaries into e1.
        sum[e1] += sum[e2]!;
        cnt[e1] += cnt[e2]!;
        alive[e2] = 0;
        heap.push(-sum[e1]! / cnt[e1]!, e1);
      } else {
        ra.set(nb, e2);
        an.set(root, e2);
      }
    }
    adj[other] = new Map();
    uf.link(other, root);
    size[root] += size[other]!;
  };

  const order = [...new Set(opts.thresholds)].sort((x, y) => y - x);
  const byThreshold = new Map<number, Uint32Array>();
  for (const t of order) {
    while (heap.size > 0 && -heap.peekPriority()! >= t) {
      const prio = heap.peekPriority()!;
      const e = heap.pop();
      if (!alive[e] || -sum[e]! / cnt[e]! !== prio) continue; // merged away or superseded by a newer entry
      const a = uf.find(eu[e]!);
      const b = uf.find(ev[e]!);
      if (a === b) {
        alive[e] = 0;
        continue;
      }
      merge(a, b, e);
    }
    byThreshold.set(t, snapshot(ids, k, uf, adj, size, sum, cnt, minSize));
  }
  // A threshold listed twice gets its own copy of the labels.
  const used = new Set<number>();
  return opts.thresholds.map((t) => {
    const labels = byThreshold.get(t)!;
    const out = { threshold: t, labels: used.has(t) ? labels.slice() : labels };
    used.add(t);
    return out;
  });
}

/** Compact arbitrary fragment ids to 1..k in order of first appearance (0 stays 0). */
function compactFragments(fragments: Uint32Array): { ids: Int32Array; count: number } {
  const n = fragments.length;
  const ids = new Int32Array(n);
  let max = 0;
  for (let v = 0; v < n; v++) if (fragments[v]! > max) max = fragments[v]!;
  let count = 0;
  if (max <= 4 * n + 1024) {
    const table = new Int32Array(max + 1);
    for (let v = 0; v < n; v++) {
      const f = fragments[v]!;
      if (f === 0) continue;
      if (table[f] === 0) table[f] = ++count;
      ids[v] = table[f]!;
    }
  } else {
    const table = new Map<number, number>();
    for (let v = 0; v < n; v++) {
      const f = fragments[v]!;
      if (f === 0) continue;
      let id = table.get(f);
      if (id === undefined) table.set(f, (id = ++count));
      ids[v] = id;
    }
  }
  return { ids, count };
}

/**
 * Labels at the current merge level, with small-region cleanup: regions under `minSize` voxels, smallest
 * first, join the neighbour with the highest mean boundary affinity (a temporary union-find, so the
 * agglomeration state that later thresholds continue from is untouched). Ids 1..k by first voxel.
 */
function snapshot(
  ids: Int32Array,
  k: number,
  uf: UnionFind,
  adj: Map<number, number>[],
  size: Float64Array,
  sum: Float64Array,
  cnt: Float64Array,
  minSize: number,
): Uint32Array {
  const rootOf = new Int32Array(k + 1);
  for (let f = 1; f <= k; f++) rootOf[f] = uf.find(f);
  if (minSize > 0) {
    const small: number[] = [];
    for (let f = 1; f <= k; f++) if (rootOf[f] === f && size[f]! < minSize) small.push(f);
    small.sort((a, b) => size[a]! - size[b]! || a - b);
    const tmp = new UnionFind(k + 1);
    const groupSize = Float64Array.from(size);
    for (const r of small) {
      const g = tmp.find(r);
      if (groupSize[g]! >= minSize) continue; // already grown big enough by absorbing others
      let best = -1;
      let bestMean = -Infinity;
      for (const [nb, e] of adj[r]!) {
        const mean = sum[e]! / cnt[e]!;
        if (tmp.find(nb) !== g && (mean > bestMean || (mean === bestMean && nb < best))) {
          best = nb;
          bestMean = mean;
        }
      }
      if (best < 0) continue; // isolated region: keep it
      const target = tmp.find(best);
      tmp.link(g, target);
      groupSize[target] += groupSize[g]!;
    }
    for (let f = 1; f <= k; f++) rootOf[f] = tmp.find(rootOf[f]!);
  }
  const out = new Uint32Array(ids.length);
  const newId = new Uint32Array(k + 1);
  let next = 0;
  for (let v = 0; v < ids.length; v++) {
    const f = ids[v]!;
    if (f === 0) continue;
    const r = rootOf[f]!;
    if (newId[r] === 0) newId[r] = ++next;
    out[v] = newId[r]!;
  }
  return out;
}

/** Region adjacency graph: edge e joins fragments eu[e] < ev[e]; sum / cnt of its boundary affinities. */
interface RegionGraph {
  eu: Int32Array;
  ev: Int32Array;
  sum: Float64Array;
  cnt: Float64Array;
  m: number;
}

/**
 * The region adjacency graph of compact fragment ids, edges numbered in raster order of their first
 * voxel pair (channel z, then y, then x), each boundary's affinities summed in that same order. Pairs are
 * found in an open-addressing hash table on typed arrays, and a run of voxel pairs with the same
 * fragments (common along x) skips the lookup.
 */
function regionGraph(ids: Int32Array, affinities: Float32Array, shape: Shape3, mode2d: boolean): RegionGraph {
  const [d, h, w] = shape;
  const hw = h * w;
  const n = d * hw;
  const table = new PairTable();
  let eu = new Int32Array(1024);
  let ev = new Int32Array(1024);
  let sum = new Float64Array(1024);
  let cnt = new Float64Array(1024);
  let m = 0;
  for (let c = mode2d ? 1 : 0; c < 3; c++) {
    const off = c * n;
    const step = c === 0 ? hw : c === 1 ? w : 1;
    let lastA = -1;
    let lastB = -1;
    let lastE = -1;
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++) {
        if ((c === 0 && z === 0) || (c === 1 && y === 0)) continue;
        for (let x = c === 2 ? 1 : 0, v = z * hw + y * w + x; x < w; x++, v++) {
          const p = ids[v]!;
          const q = ids[v - step]!;
          if (p === q || p === 0 || q === 0) continue;
          const a = p < q ? p : q;
          const b = p < q ? q : p;
          let e = lastE;
          if (a !== lastA || b !== lastB) {
            e = table.get(a, b, m);
            if (e === m) {
              // a new edge
              if (m === eu.length) {
                eu = grown(eu);
                ev = grown(ev);
                sum = grown(sum);
                cnt = grown(cnt);
              }
              eu[m] = a;
              ev[m] = b;
              m++;
            }
            lastA = a;
            lastB = b;
            lastE = e;
          }
          sum[e] += affinities[off + v]!;
          cnt[e]++;
        }
      }
  }
  return { eu, ev, sum, cnt, m };
}

function grown<T extends Int32Array | Float64Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** Open-addressing hash table (linear probing) from a pair of positive ints to an int, on typed arrays. */
class PairTable {
  private keyA = new Int32Array(1 << 12); // 0 = empty slot
  private keyB = new Int32Array(1 << 12);
  private vals = new Int32Array(1 << 12);
  private count = 0;

  /** The value of (a, b); when absent, insert (a, b) -> `ifAbsent` and return it. */
  get(a: number, b: number, ifAbsent: number): number {
    const mask = this.keyA.length - 1;
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & mask;
    for (;;) {
      const ka = this.keyA[i]!;
      if (ka === 0) break;
      if (ka === a && this.keyB[i] === b) return this.vals[i]!;
      i = (i + 1) & mask;
    }
    this.keyA[i] = a;
    this.keyB[i] = b;
    this.vals[i] = ifAbsent;
    if (++this.count * 2 > this.keyA.length) this.rehash();
    return ifAbsent;
  }

  private rehash(): void {
    const { keyA, keyB, vals } = this;
    const size = keyA.length * 2;
    this.keyA = new Int32Array(size);
    this.keyB = new Int32Array(size);
    this.vals = new Int32Array(size);
    this.count = 0;
    for (let i = 0; i < keyA.length; i++) if (keyA[i] !== 0) this.get(keyA[i]!, keyB[i]!, vals[i]!);
  }
}

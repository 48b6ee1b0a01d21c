import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/core/rng.js';
import type { Shape3 } from '../src/data/types.js';
import { BucketQueue } from '../src/tasks/eval/bucket-queue.js';
import { MinHeap } from '../src/tasks/eval/heap.js';
import { hMinimaSeeds } from '../src/tasks/eval/seeds.js';

/*
 * The tuned segmentation passes against straightforward references on small random maps: the
 * h-minima seeds against a plain union-find flooding written from their documented definition, and the
 * bucket queue against a binary heap over floods that run empty and start low again (as each section's
 * flood does).
 */

/** h-minima seeds as documented, with plain arrays and a comparison sort, one block at a time. */
function referenceHMinima(
  map: Float32Array,
  shape: Shape3,
  h: number,
  mode2d: boolean,
  include: Uint8Array | null,
): { labels: number[]; count: number } {
  const [d, hh, w] = shape;
  const n = d * hh * w;
  const inside = (v: number): boolean => !include || include[v] === 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let v = 0; v < n; v++) if (inside(v)) [lo, hi] = [Math.min(lo, map[v]!), Math.max(hi, map[v]!)];
  const scale = hi > lo ? 65535 / (hi - lo) : 0;
  const key = (v: number): number => Math.floor((map[v]! - lo) * scale);
  const neighbours = (v: number): number[] => {
    const z = Math.floor(v / (hh * w));
    const y = Math.floor(v / w) % hh;
    const x = v % w;
    const out: number[] = [];
    if (x > 0) out.push(v - 1);
    if (x < w - 1) out.push(v + 1);
    if (y > 0) out.push(v - w);
    if (y < hh - 1) out.push(v + w);
    if (!mode2d && z > 0) out.push(v - hh * w);
    if (!mode2d && z < d - 1) out.push(v + hh * w);
    return out;
  };
  const labels: number[] = new Array<number>(n).fill(0);
  const seeds: number[] = []; // minimum voxel of each seed, by block-local id order
  const block = mode2d ? hh * w : n;
  for (let b0 = 0; b0 < n; b0 += block) {
    const voxels = Array.from({ length: block }, (_, i) => b0 + i).filter(inside);
    voxels.sort((a, b) => key(a) - key(b) || a - b);
    const parent = new Map<number, number>();
    const minOf = new Map<number, number>();
    const isMinimum = new Set<number>();
    const dynamic = new Map<number, number>();
    const find = (v: number): number => (parent.get(v) === v ? v : find(parent.get(v)!));
    for (const v of voxels) {
      parent.set(v, v);
      minOf.set(v, v);
      isMinimum.add(v);
      for (const u of neighbours(v)) {
        if (!parent.has(u)) continue;
        const ru = find(u);
        const rv = find(v);
        if (ru === rv) continue;
        const mu = minOf.get(ru)!;
        const mv = minOf.get(rv)!;
        const uDeeper = map[mu]! < map[mv]! || (map[mu] === map[mv] && mu < mv);
        const dying = uDeeper ? mv : mu;
        if (dying === v) isMinimum.delete(v);
        else dynamic.set(dying, Math.min(dynamic.get(dying) ?? Infinity, map[v]! - map[dying]!));
        parent.set(rv, ru);
        minOf.set(ru, uDeeper ? mu : mv);
      }
    }
    for (const m of voxels) {
      if (!isMinimum.has(m) || (dynamic.get(m) ?? Infinity) < h || labels[m] !== 0) continue;
      seeds.push(m);
      const id = seeds.length; // provisional: renumbered below
      const stack = [m];
      labels[m] = id;
      while (stack.length > 0)
        for (const u of neighbours(stack.pop()!))
          if (labels[u] === 0 && inside(u) && map[u]! <= map[m]! + h) {
            labels[u] = id;
            stack.push(u);
          }
    }
  }
  // Ids in ascending key of the seeds' minima, ties by voxel index.
  const rank = seeds
    .map((_, i) => i)
    .sort((a, b) => key(seeds[a]!) - key(seeds[b]!) || seeds[a]! - seeds[b]!);
  const newId = new Array<number>(seeds.length + 1).fill(0);
  rank.forEach((s, i) => (newId[s + 1] = i + 1));
  return { labels: labels.map((l) => newId[l]!), count: seeds.length };
}

test('h-minima seeds equal a plain reference on random maps (ties, 2D and 3D, with a domain mask)', () => {
  const rng = Rng.fromSeed(11);
  let seeds = 0;
  for (let trial = 0; trial < 24; trial++) {
    const shape: Shape3 = [1 + (trial % 3), 5 + (trial % 7), 6 + ((trial * 3) % 9)];
    const n = shape[0] * shape[1] * shape[2];
    const levels = 2 + (trial % 5) * 4; // few levels: plateaus and exact ties
    const map = Float32Array.from({ length: n }, () => Math.floor(rng.uniform() * levels) / levels);
    const include =
      trial % 4 === 3 ? Uint8Array.from({ length: n }, () => (rng.uniform() < 0.8 ? 1 : 0)) : null;
    for (const h of [0, 0.1, 0.3])
      for (const mode2d of [false, true]) {
        const got = hMinimaSeeds(map, shape, h, { mode2d, ...(include ? { include } : {}) });
        const want = referenceHMinima(map, shape, h, mode2d, include);
        const where = `trial ${trial}, shape [${shape}], h ${h}, mode2d ${mode2d}`;
        assert.is(got.count, want.count, where);
        assert.equal([...got.labels], want.labels, where);
        seeds += got.count;
      }
  }
  assert.ok(seeds > 500, `${seeds} seeds in all`);
});

test('h-minima seeds equal the reference on a larger noisy map: plateaus, near-ties within one key, many sections', () => {
  // Larger than the preload distance and with basins that meet many times: the pass's candidate slots
  // (given back when a voxel joins a deeper basin) and its loads ahead of the order must not change
  // which minima survive or their ids.
  const rng = Rng.fromSeed(13);
  const shape: Shape3 = [3, 40, 44];
  const n = shape[0] * shape[1] * shape[2];
  const map = new Float32Array(n);
  for (let v = 0; v < n; v++) {
    const y = Math.floor(v / shape[2]) % shape[1];
    const x = v % shape[2];
    const bumps = Math.sin(x / 3.1) * Math.cos(y / 2.7) + 0.3 * Math.sin((x + y) / 1.7);
    const plateau = Math.round(bumps * 4) / 4; // exact ties
    // every third voxel off its plateau by less than one key (1e-6 of a range of ~3): one key, unequal values
    map[v] = v % 3 === 0 ? plateau + rng.uniform() * 1e-6 : plateau + (v % 3 === 1 ? 0 : rng.uniform() * 0.2);
  }
  let seeds = 0;
  for (const h of [0, 0.05, 0.3])
    for (const mode2d of [true, false]) {
      const got = hMinimaSeeds(map, shape, h, { mode2d });
      const want = referenceHMinima(map, shape, h, mode2d, null);
      assert.is(got.count, want.count, `h ${h}, mode2d ${mode2d}`);
      assert.equal([...got.labels], want.labels, `h ${h}, mode2d ${mode2d}`);
      seeds += got.count;
    }
  assert.ok(seeds > 100, `${seeds} seeds in all`);
});

test('bucket queue: the heap order over floods that run empty and start low again', () => {
  const rng = Rng.fromSeed(12);
  const heap = new MinHeap(4);
  const queue = new BucketQueue(0, 1, 32);
  let v = 0;
  let pops = 0;
  for (let flood = 0; flood < 30; flood++) {
    // Each flood starts low and its pushes rise with its pops (a water level), some below it.
    let level = rng.uniform() * 0.2;
    for (let k = 0; k < 5; k++) {
      heap.push(level, v);
      queue.push(level, v++);
    }
    while (heap.size > 0) {
      assert.is(queue.peekPriority(), heap.peekPriority());
      assert.is(queue.pop(), heap.pop(), `flood ${flood}, pop ${pops}`);
      pops++;
      if (v < (flood + 1) * 200) {
        level = Math.min(1, level + rng.uniform() * 0.01);
        for (let k = Math.floor(rng.uniform() * 3); k > 0; k--) {
          const p = Math.round(Math.max(0, level + (rng.uniform() - 0.3) * 0.1) * 200) / 200;
          heap.push(p, v);
          queue.push(p, v++);
        }
      }
    }
    assert.is(queue.size, 0);
    assert.is(queue.pop(), -1);
  }
  assert.ok(pops > 4000, `${pops} pops`);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import type { Shape3 } from '../src/data/types.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { labelsToAffinities } from '../src/data/affinities.js';
import { evaluateSegmentation } from '../src/tasks/eval/metrics.js';
import { borderMask } from '../src/tasks/eval/border-mask.js';
import { segment } from '../src/tasks/eval/segment.js';
import { watershed } from '../src/tasks/eval/watershed.js';
import { agglomerate } from '../src/tasks/eval/agglomerate.js';
import { boundaryMap } from '../src/tasks/eval/affinity-graph.js';
import { MinHeap } from '../src/tasks/eval/heap.js';
import { BucketQueue } from '../src/tasks/eval/bucket-queue.js';
import { UnionFind } from '../src/tasks/eval/union-find.js';

const log2 = Math.log2;
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) < 1e-9, `${what}: got ${a}, expected ${b}`);
const score = (
  gt: number[],
  pred: number[],
  extra: { mode2d?: boolean; shape?: Shape3; arandPredZero?: 'cremi' | 'singletons' } = {},
) =>
  evaluateSegmentation(Uint32Array.from(gt), Uint32Array.from(pred), {
    shape: extra.shape ?? [1, 1, gt.length],
    mode2d: extra.mode2d,
    arandPredZero: extra.arandPredZero,
  });
/** F-score based adapted Rand error from precision and recall. */
const arandOf = (p: number, r: number): number => 1 - (2 * p * r) / (p + r);

test('scores: identical and relabelled segmentations score 0', () => {
  for (const pred of [
    [1, 1, 2, 2, 3],
    [9, 9, 4, 4, 7],
  ]) {
    const s = score([1, 1, 2, 2, 3], pred);
    for (const k of ['voi_split', 'voi_merge', 'voi_sum', 'arand', 'cremi_score'] as const) close(s[k], 0, k);
    close(s.arand_precision, 1, 'precision');
    close(s.arand_recall, 1, 'recall');
  }
});

test('scores: all merged, all split, a mixed case (hand-computed)', () => {
  // gt {1,1,2,2}, pred all one segment: split 0, merge H(gt|pred) = 1 bit;
  // sumA = 2^2 + 2^2 = 8, sumB = 4^2 = 16, sumAB = 2^2 + 2^2 = 8 -> P = 1/2, R = 1.
  let s = score([1, 1, 2, 2], [1, 1, 1, 1]);
  close(s.voi_split, 0, 'split');
  close(s.voi_merge, 1, 'merge');
  close(s.arand_precision, 8 / 16, 'P');
  close(s.arand_recall, 1, 'R');
  close(s.arand, arandOf(0.5, 1), 'arand'); // = 1/3
  close(s.cremi_score, Math.sqrt(1 * (1 / 3)), 'cremi');
  // gt one object, pred 4 singletons: split = log2 4 = 2, merge 0; sumA 16, sumB 4, sumAB 4 -> P 1, R 1/4.
  s = score([1, 1, 1, 1], [1, 2, 3, 4]);
  close(s.voi_split, 2, 'split');
  close(s.voi_merge, 0, 'merge');
  close(s.arand, arandOf(1, 0.25), 'arand'); // = 0.6
  // gt {1,1,1,2,2,3}, pred {1,1,2,2,2,2}: n_11 = 2, n_12 = 1, n_22 = 2, n_32 = 1; a = (3,2,1), b = (2,4), n = 6.
  s = score([1, 1, 1, 2, 2, 3], [1, 1, 2, 2, 2, 2]);
  const split = -(
    (2 / 6) * log2(2 / 3) +
    (1 / 6) * log2(1 / 3) +
    (2 / 6) * log2(2 / 2) +
    (1 / 6) * log2(1 / 1)
  );
  const merge = -(
    (2 / 6) * log2(2 / 2) +
    (1 / 6) * log2(1 / 4) +
    (2 / 6) * log2(2 / 4) +
    (1 / 6) * log2(1 / 4)
  );
  close(s.voi_split, split, 'split');
  close(s.voi_merge, merge, 'merge');
  close(s.voi_sum, split + merge, 'sum');
  const sumAB = 4 + 1 + 4 + 1;
  const P = sumAB / (4 + 16);
  const R = sumAB / (9 + 4 + 1);
  close(s.arand_precision, P, 'P');
  close(s.arand_recall, R, 'R');
  close(s.arand, arandOf(P, R), 'arand');
});

test('scores: gt 0 is ignored; pred 0 inside labelled gt follows cremi_python (c / n), or singletons (c)', () => {
  // gt 0 voxels do not count: same as the all-merged case.
  const s0 = score([0, 0, 1, 1, 2, 2], [7, 8, 1, 1, 1, 1]);
  close(s0.voi_merge, 1, 'merge');
  close(s0.arand, 1 / 3, 'arand');
  // gt one object of 4, pred {0,0,1,1}: c = 2 labelled voxels predicted 0, n = 4 voxels in all.
  // Official (cremi_python adapted_rand): sumAB = 2^2 + 2/4, sumB = 2^2 + 2/4, sumA = 16 -> P = 1,
  // R = 4.5/16. VOI treats 0 as a label: split 1 bit.
  const s = score([1, 1, 1, 1], [0, 0, 1, 1]);
  close(s.arand_precision, 1, 'P');
  close(s.arand_recall, 4.5 / 16, 'R');
  close(s.arand, arandOf(1, 4.5 / 16), 'arand');
  close(s.voi_split, 1, 'split');
  close(s.voi_merge, 0, 'merge');
  // n counts every voxel of the volume, unlabelled ones too (cremi: n = segA.size): two gt-0 voxels
  // make n = 6: sumAB = 4 + 2/6. With a second object, P and R both move:
  // gt {0,0,1,1,1,1,2,2}, pred {3,3,0,0,1,1,1,1}: a = (4, 2), b_1 = 4, n_11 = 2, n_21 = 2, c = 2, n = 8.
  const c = score([0, 0, 1, 1, 1, 1, 2, 2], [3, 3, 0, 0, 1, 1, 1, 1]);
  const zc = 2 / 8;
  close(c.arand_precision, (4 + 4 + zc) / (16 + zc), 'P (cremi)');
  close(c.arand_recall, (4 + 4 + zc) / (16 + 4), 'R (cremi)');
  // The named alternative: every pred-0 voxel is its own segment (adds c = 2, a pair count).
  const sg = score([0, 0, 1, 1, 1, 1, 2, 2], [3, 3, 0, 0, 1, 1, 1, 1], { arandPredZero: 'singletons' });
  close(sg.arand_precision, (4 + 4 + 2) / (16 + 2), 'P (singletons)');
  close(sg.arand_recall, (4 + 4 + 2) / (16 + 4), 'R (singletons)');
  close(sg.arand, arandOf(10 / 18, 10 / 20), 'arand (singletons)');
  // Without any pred 0 the two rules agree.
  close(score([1, 1, 2, 2], [1, 1, 1, 1], { arandPredZero: 'singletons' }).arand, 1 / 3, 'no zeros');
});

test('scores: 2D mode averages per-section scores', () => {
  // Section 0: gt {1,1,2,2}, pred merged (merge 1, P 1/2, R 1). Section 1: perfect.
  const gt = [1, 1, 2, 2, 3, 3, 3, 3];
  const pred = [1, 1, 1, 1, 3, 3, 3, 3];
  const s2 = score(gt, pred, { shape: [2, 1, 4], mode2d: true });
  close(s2.voi_merge, 0.5, 'merge');
  close(s2.arand_precision, (0.5 + 1) / 2, 'P');
  close(s2.arand, (1 / 3 + 0) / 2, 'arand');
  close(s2.cremi_score, Math.sqrt(0.5 * (1 / 6)), 'cremi');
  // The same stack in 3D: sumA = 4 + 4 + 16, sumB = 16 + 16, sumAB = 4 + 4 + 16 -> P = 3/4, R = 1.
  const s3 = score(gt, pred, { shape: [2, 1, 4] });
  close(s3.voi_merge, 0.5, 'merge');
  close(s3.arand, arandOf(0.75, 1), 'arand');
});

test('scores: BigUint64Array labels (small and > 2^53 ids) give the same scores', () => {
  const gt = [1, 1, 1, 2, 2, 3, 0];
  const pred = [1, 1, 2, 2, 2, 2, 5];
  const ref = score(gt, pred);
  const shape: Shape3 = [1, 1, gt.length];
  const big = (a: number[], off: bigint) => BigUint64Array.from(a, (x) => (x === 0 ? 0n : BigInt(x) + off));
  for (const off of [0n, 1n << 40n, (1n << 63n) + 12345n]) {
    const s = evaluateSegmentation(big(gt, off), big(pred, off), { shape });
    close(s.voi_sum, ref.voi_sum, `voi_sum off ${off}`);
    close(s.arand, ref.arand, `arand off ${off}`);
    const mixed = evaluateSegmentation(big(gt, off), Uint32Array.from(pred), { shape });
    close(mixed.arand, ref.arand, `mixed arand off ${off}`);
  }
});

test('scores: shape mismatch and empty ground truth are InputErrors', () => {
  assert.throws(
    () => evaluateSegmentation(new Uint32Array(8), new Uint32Array(6), { shape: [2, 2, 2] }),
    (e: unknown) => e instanceof InputError && /2, 2, 2/.test(e.message) && /pred 6/.test(e.message),
  );
  assert.throws(
    () => evaluateSegmentation(new Uint32Array(4), new Uint32Array(4), { shape: [1, 2, 2] }),
    (e: unknown) => e instanceof InputError && /no labelled voxel/.test(e.message),
  );
});

test('border ignore: CREMI boundary pixels and an anisotropic distance', () => {
  // 1 x 3 x 6: columns 0-2 are object 1, columns 3-5 object 2; border pixels are columns 2 and 3.
  const shape: Shape3 = [1, 3, 6];
  const gt = Uint32Array.from({ length: 18 }, (_, i) => (i % 6 < 3 ? 1 : 2));
  const cols = (m: Uint8Array) => [...new Set([...m].flatMap((v, i) => (v ? [i % 6] : [])))].sort();
  assert.equal(cols(borderMask(gt, shape, [40, 4, 4], 0)), [2, 3]);
  assert.equal(cols(borderMask(gt, shape, [40, 4, 4], 3.9)), [2, 3]);
  assert.equal(cols(borderMask(gt, shape, [40, 4, 4], 4)), [1, 2, 3, 4]);
  // Prediction wrong only on column 2: perfect once the border is ignored.
  const pred = Uint32Array.from({ length: 18 }, (_, i) => (i % 6 < 2 ? 1 : 2));
  assert.ok(evaluateSegmentation(gt, pred, { shape }).voi_sum > 0.1);
  const s = evaluateSegmentation(gt, pred, { shape, resolution: [40, 4, 4], borderNm: 0 });
  close(s.voi_sum, 0, 'voi_sum with border ignore');
  close(s.arand, 0, 'arand with border ignore');
  // 5 x 5 with one odd centre pixel, y spacing 2 nm, x spacing 4 nm: border = centre + its 4 neighbours.
  // Corner (0,0): nearest border pixel (2,1) at sqrt((2*2)^2 + (1*4)^2) = 5.657 nm (vs (1,2) at 8.25 nm).
  const c = new Uint32Array(25).fill(1);
  c[12] = 2;
  assert.is(borderMask(c, [1, 5, 5], [1, 2, 4], 5.65)[0], 0);
  assert.is(borderMask(c, [1, 5, 5], [1, 2, 4], 5.66)[0], 1);
  // Against brute force on random labels.
  const rng = Rng.fromSeed(4);
  const lab = Uint32Array.from({ length: 2 * 9 * 11 }, () => (rng.next() < 0.9 ? 1 : 2 + rng.int(2)));
  const [ry, rx] = [3, 5];
  const m = borderMask(lab, [2, 9, 11], [1, ry, rx], 7);
  for (let z = 0; z < 2; z++) {
    const isB = (y: number, x: number) => {
      const i = z * 99 + y * 11 + x;
      return [
        [y - 1, x],
        [y + 1, x],
        [y, x - 1],
        [y, x + 1],
      ].some(
        ([yy, xx]) => yy! >= 0 && yy! < 9 && xx! >= 0 && xx! < 11 && lab[z * 99 + yy! * 11 + xx!] !== lab[i],
      );
    };
    for (let y = 0; y < 9; y++)
      for (let x = 0; x < 11; x++) {
        let best = Infinity;
        for (let yy = 0; yy < 9; yy++)
          for (let xx = 0; xx < 11; xx++)
            if (isB(yy, xx)) best = Math.min(best, ((y - yy) * ry) ** 2 + ((x - xx) * rx) ** 2);
        assert.is(m[z * 99 + y * 11 + x], best <= 49 ? 1 : 0, `z ${z} y ${y} x ${x}`);
      }
  }
});

test('heap: pops by priority, ties first-in first-out', () => {
  const h = new MinHeap(2);
  [
    [0.5, 1],
    [0.1, 2],
    [0.5, 3],
    [0.1, 4],
    [0.3, 5],
  ].forEach(([p, v]) => h.push(p!, v!));
  assert.equal(
    Array.from({ length: 5 }, () => h.pop()),
    [2, 4, 5, 1, 3],
  );
  assert.is(h.pop(), -1);
});

test('bucket queue: the same pop order as the heap (ties, out-of-range, pushes between pops)', () => {
  const rng = Rng.fromSeed(5);
  const heap = new MinHeap(4);
  const queue = new BucketQueue(0, 1, 16);
  const popped: [number, number][] = [];
  let v = 0;
  for (let round = 0; round < 400; round++) {
    // Coarse priorities (many exact ties), some outside [0, 1], pushes below the current band.
    for (let k = Math.floor(rng.uniform() * 6); k > 0; k--) {
      const p = Math.round((rng.uniform() * 1.4 - 0.2) * 40) / 40;
      heap.push(p, v);
      queue.push(p, v++);
    }
    for (let k = Math.floor(rng.uniform() * 5); k > 0 && heap.size > 0; k--) {
      assert.is(queue.peekPriority(), heap.peekPriority());
      popped.push([heap.pop(), queue.pop()]);
    }
    assert.is(queue.size, heap.size);
  }
  while (heap.size > 0) popped.push([heap.pop(), queue.pop()]);
  assert.ok(popped.length > 500, `${popped.length} pops`);
  assert.ok(
    popped.every(([a, b]) => a === b),
    'same values in the same order',
  );
  assert.is(queue.pop(), -1);
  assert.throws(() => new BucketQueue(1, 0), /lo <= hi/);
});

test('bucket queue: onEnterHeap reports each value once, before its pop; the order is unchanged', () => {
  const rng = Rng.fromSeed(6);
  const plain = new BucketQueue(0, 1, 8);
  const reported = new Set<number>();
  let repeats = 0;
  const hooked = new BucketQueue(0, 1, 8, (v) => {
    if (reported.has(v)) repeats++;
    reported.add(v);
  });
  // Values 0..49 are pushed before any pop and above the first band: all of them wait in a band.
  for (let v = 0; v < 50; v++) {
    const p = 0.2 + 0.8 * rng.uniform();
    plain.push(p, v);
    hooked.push(p, v);
  }
  let v = 50;
  let pops = 0;
  const popBoth = (): void => {
    const a = plain.pop();
    const b = hooked.pop();
    assert.is(b, a);
    assert.ok(reported.has(b), `value ${b} reported before its pop`); // waiting in a band or pushed into the heap
    pops++;
  };
  for (let round = 0; round < 100; round++) {
    for (let k = Math.floor(rng.uniform() * 4); k > 0; k--) {
      const p = rng.uniform();
      plain.push(p, v);
      hooked.push(p, v++);
    }
    for (let k = Math.floor(rng.uniform() * 4); k > 0 && plain.size > 0; k--) popBoth();
  }
  while (plain.size > 0) popBoth();
  assert.is(hooked.size, 0);
  assert.ok(pops > 100, `${pops} pops`);
  assert.is(repeats, 0);
  for (let u = 0; u < 50; u++) assert.ok(reported.has(u), `value ${u} reported`);
  for (const u of reported) assert.ok(u < v, 'only pushed values');
});

test('boundary map: 1 - mean of the touching affinities', () => {
  // 1 x 1 x 3, x affinities [-, 0.8, 0.2]: voxel 0 touches 0.8, voxel 1 touches 0.8 and 0.2, voxel 2 0.2.
  const aff = Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0.8, 0.2]);
  const b = boundaryMap(aff, [1, 1, 3]);
  // float32 storage: agreement to 1e-6.
  assert.ok(Math.abs(b[0]! - (1 - 0.8)) < 1e-6 && Math.abs(b[1]! - (1 - 0.5)) < 1e-6, `${b[0]} ${b[1]}`);
  assert.ok(Math.abs(b[2]! - (1 - 0.2)) < 1e-6, `${b[2]}`);
  assert.throws(
    () => boundaryMap(new Float32Array(5), [1, 1, 3]),
    (e: unknown) => e instanceof InputError,
  );
});

test('agglomerate: threshold sweep, pooled boundary means, small-fragment cleanup', () => {
  // 1 x 1 x 6 fragments {1,1,2,2,3,3}; x affinity 0.8 on the 1|2 boundary, 0.4 on 2|3.
  const x6 = (ax: number[]) => Float32Array.from([...new Array(12).fill(0), ...ax]);
  const frag = Uint32Array.from([1, 1, 2, 2, 3, 3]);
  const out = agglomerate(frag, x6([0, 1, 0.8, 1, 0.4, 1]), [1, 1, 6], { thresholds: [0.3, 0.9, 0.5] });
  assert.equal(
    out.map((o) => o.threshold),
    [0.3, 0.9, 0.5],
  );
  assert.equal([...out[1]!.labels], [1, 1, 2, 2, 3, 3]);
  assert.equal([...out[2]!.labels], [1, 1, 1, 1, 2, 2]);
  assert.equal([...out[0]!.labels], [1, 1, 1, 1, 1, 1]);
  // 1 x 2 x 2: A = (0,0), B = (0,1), C = row 1. A|B 0.9; A|C 0.3 and B|C 0.7 pool to 0.5 after A+B merge.
  const n = 4;
  const aff = new Float32Array(3 * n);
  aff[n + 2] = 0.3; // y affinity at (1,0): C to A
  aff[n + 3] = 0.7; // y affinity at (1,1): C to B
  aff[2 * n + 1] = 0.9; // x affinity at (0,1): B to A
  aff[2 * n + 3] = 1; // inside C
  const f4 = Uint32Array.from([1, 2, 3, 3]);
  const [a, b] = agglomerate(f4, aff, [1, 2, 2], { thresholds: [0.55, 0.5] });
  assert.equal([...a!.labels], [1, 1, 2, 2]); // mean 0.5 < 0.55 although one pixel pair has 0.7
  assert.equal([...b!.labels], [1, 1, 1, 1]);
  // Cleanup: {1,1,1,2,3,3,3}, 1|2 at 0.2 and 2|3 at 0.1: the 1-voxel region joins its stronger neighbour.
  const x7 = Float32Array.from([...new Array(14).fill(0), 0, 1, 1, 0.2, 0.1, 1, 1]);
  const [c] = agglomerate(Uint32Array.from([1, 1, 1, 2, 3, 3, 3]), x7, [1, 1, 7], {
    thresholds: [0.9],
    minSize: 2,
  });
  assert.equal([...c!.labels], [1, 1, 1, 1, 2, 2, 2]);
});

/** Affinities 1 iff a voxel and its -1 neighbour share a non-zero id. */
const perfect = (labels: Uint32Array, shape: Shape3) =>
  labelsToAffinities({ data: labels, shape, resolution: [40, 4, 4] });

/**
 * Connected components of a label volume (6-connected, or 4-connected per section with `mode2d`), 0 kept:
 * affinities cannot tell that two disconnected pieces of one id belong together, so the exact-recovery
 * check compares with the components.
 */
function components(labels: Uint32Array, shape: Shape3, mode2d: boolean): Uint32Array {
  const uf = new UnionFind(labels.length);
  const [, h, w] = shape;
  for (let v = 0; v < labels.length; v++) {
    if (labels[v] === 0) continue;
    const z = Math.floor(v / (h * w));
    const y = Math.floor(v / w) % h;
    const x = v % w;
    if (x > 0 && labels[v - 1] === labels[v]) uf.union(v - 1, v);
    if (y > 0 && labels[v - w] === labels[v]) uf.union(v - w, v);
    if (!mode2d && z > 0 && labels[v - h * w] === labels[v]) uf.union(v - h * w, v);
  }
  return Uint32Array.from(labels, (l, v) => (l === 0 ? 0 : uf.find(v) + 1));
}

test('instances: perfect affinities recover the labels exactly (3D, xy fragments, 2D)', () => {
  const shape: Shape3 = [6, 48, 48];
  const { labels } = generateSynthetic({ shape, seed: 2, cellSize: 16 });
  const aff = perfect(labels.data, shape);
  // minOrphanSize 1: a 1-pixel piece of an object (seen at a section's corner) is its own fragment.
  for (const o of [{ fragments: '3d' as const }, { fragments: 'xy' as const }, { mode2d: true }]) {
    const mode2d = 'mode2d' in o;
    const gt = components(labels.data, shape, mode2d);
    const [sg] = segment(aff, shape, { thresholds: [0.5], seeds: 'threshold', minOrphanSize: 1, ...o });
    const s = evaluateSegmentation(gt, sg!.labels, { shape, mode2d });
    close(s.voi_sum, 0, `voi_sum ${JSON.stringify(o)}`);
    close(s.arand, 0, `arand ${JSON.stringify(o)}`);
    // h-minima seeds (the default) have no orphan stage: a 1-pixel piece joins a neighbour, nothing more
    const [sh] = segment(aff, shape, { thresholds: [0.5], ...o });
    const h = evaluateSegmentation(gt, sh!.labels, { shape, mode2d });
    assert.ok(h.voi_sum < 0.01 && h.arand < 0.01, `h-minima ${JSON.stringify(o)}: ${h.voi_sum}, ${h.arand}`);
  }
});

test('instances: 2D mode never joins sections; ids are unique over the stack', () => {
  // Two sections with the same object id in gt: 2D mode gives two segments, 3D mode one.
  const shape: Shape3 = [2, 4, 4];
  const gt = new Uint32Array(32).fill(7);
  const aff = perfect(gt, shape);
  const [s2] = segment(aff, shape, { thresholds: [0.5], mode2d: true });
  assert.equal(new Set(s2!.labels.subarray(0, 16)), new Set([1]));
  assert.equal(new Set(s2!.labels.subarray(16)), new Set([2]));
  const [s3] = segment(aff, shape, { thresholds: [0.5] });
  assert.equal(new Set(s3!.labels), new Set([1]));
  const w = watershed(aff, shape, { mode2d: true });
  assert.is(w.count, 2);
});

test('instances: noisy affinities (sigma 0.2, clipped) score VOI sum < 0.05 on a synthetic volume', () => {
  const shape: Shape3 = [8, 96, 96];
  const { labels } = generateSynthetic({ shape, seed: 5 });
  const aff = perfect(labels.data, shape);
  const rng = Rng.fromSeed(11);
  for (let i = 0; i < aff.length; i++) aff[i] = Math.min(1, Math.max(0, aff[i]! + 0.2 * rng.normal()));
  const segs = segment(aff, shape, { thresholds: [0.3, 0.5], minSize: 20 });
  for (const sg of segs) {
    const s = evaluateSegmentation(labels.data, sg.labels, { shape });
    assert.ok(s.voi_sum < 0.05, `threshold ${sg.threshold}: voi_sum ${s.voi_sum}`);
    assert.ok(s.arand < 0.02, `threshold ${sg.threshold}: arand ${s.arand}`);
  }
  // Over-merging at threshold 0 (every adjacent pair merges) is much worse: the score sees it.
  const [all] = segment(aff, shape, { thresholds: [0] });
  assert.ok(evaluateSegmentation(labels.data, all!.labels, { shape }).voi_merge > 1);
});

test('instances: bad affinities are InputErrors naming the shape or value', () => {
  assert.throws(
    () => segment(new Float32Array(10), [1, 2, 2], { thresholds: [0.5] }),
    (e: unknown) => e instanceof InputError && /\[3, D, H, W\]/.test(e.message) && /got 10/.test(e.message),
  );
  const aff = new Float32Array(12);
  aff[5] = NaN;
  assert.throws(
    () => segment(aff, [1, 2, 2], { thresholds: [0.5] }),
    (e: unknown) => e instanceof InputError && /NaN at \[1, 0, 0, 1\]/.test(e.message),
  );
});

test.run();

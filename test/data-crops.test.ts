import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/core/rng.js';
import { InputError } from '../src/core/errors.js';
import { CropSampler } from '../src/data/crop-sampler.js';
import {
  applyGeometry,
  applyIntensity,
  augmentCrop,
  drawAugment,
  elasticField,
  IDENTITY_PLAN,
  type AugmentPlan,
} from '../src/data/augment.js';
import {
  labelsToAffinities,
  labelsToBoundary,
  batchAffinities,
  batchBoundary,
} from '../src/data/affinities.js';
import { patchMembraneProxy, patchStats, patchGrid } from '../src/data/membrane.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';

const close = (a: ArrayLike<number>, b: number[], eps = 1e-5) => {
  assert.is(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

// Hand-made 2x2x3 labels (z, y, x):
//   z0: 1 1 2 | 1 0 2      z1: 1 2 2 | 3 0 2
const L223 = Uint32Array.of(1, 1, 2, 1, 0, 2, 1, 2, 2, 3, 0, 2);
const S223: Shape3 = [2, 2, 3];

test('affinities of a hand-made 2x2x3 volume equal hand-computed values', () => {
  const a = labelsToAffinities({ data: L223, shape: S223, resolution: [1, 1, 1] });
  assert.equal(Array.from(a.subarray(0, 12)), [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1]); // z
  assert.equal(Array.from(a.subarray(12, 24)), [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]); // y
  assert.equal(Array.from(a.subarray(24, 36)), [0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]); // x
  const b = labelsToBoundary({ data: L223, shape: S223, resolution: [1, 1, 1] });
  assert.equal(Array.from(b), [0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1]);
  // batched: two copies give the same per crop
  const batch = {
    n: 2,
    shape: S223,
    raw: new Float32Array(24),
    labels: Uint32Array.from([...L223, ...L223]),
  };
  const ba = batchAffinities(batch);
  assert.equal(Array.from(ba.subarray(36)), Array.from(a));
  assert.equal(Array.from(batchBoundary(batch).subarray(12)), Array.from(b));
  // 3D boundary adds z neighbours: two single-voxel sections of different ids
  const zz = { data: Uint32Array.of(1, 2), shape: [2, 1, 1] as Shape3, resolution: [1, 1, 1] as Shape3 };
  assert.equal(Array.from(labelsToBoundary(zz)), [0, 0]);
  assert.equal(Array.from(labelsToBoundary(zz, { threeD: true })), [1, 1]);
  assert.throws(
    () => batchAffinities({ n: 1, shape: S223, raw: new Float32Array(12) }),
    (e: unknown) => e instanceof InputError,
  );
});

test('membrane proxy and patch stats of a hand-made crop', () => {
  // crop [1, 2, 4], patch [1, 2, 2]: patch 0 = x 0..1, patch 1 = x 2..3; two crops (second is flat)
  const crop: Shape3 = [1, 2, 4];
  const patch: Shape3 = [1, 2, 2];
  const raw = Float32Array.of(0, 0.5, 1, 1, 0, 0.5, 1, 1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3);
  // gradient |dx| + |dy| per voxel: rows [.5, .5, 0, 0] twice -> patch means .5 and 0, crop mean .25
  close(patchMembraneProxy(raw, 2, crop, patch), [2, 0, 0, 0], 1e-4);
  const s = patchStats(raw, 2, crop, patch);
  close(s.mean, [0.25, 1, 0.3, 0.3]);
  close(s.std, [0.25, 0, 0, 0]);
  // grid order: z slowest, x fastest
  const p2 = patchMembraneProxy(Float32Array.of(0, 1, 0, 0, 0, 0, 0, 0), 1, [2, 2, 2], [1, 1, 2]);
  assert.is(p2.length, 4);
  assert.ok(p2[0]! > 0 && p2[3] === 0);
  assert.equal(patchGrid([16, 64, 64], [4, 16, 16]), [4, 4, 4]);
  assert.throws(
    () => patchGrid([16, 64, 60], [4, 16, 16]),
    (e: unknown) => e instanceof InputError && /multiple/.test(e.message),
  );
  assert.throws(
    () => patchStats(new Float32Array(3), 1, crop, patch),
    (e: unknown) => e instanceof InputError,
  );
});

const ALL_PLANS: AugmentPlan[] = [];
for (let m = 0; m < 16; m++)
  ALL_PLANS.push({
    ...IDENTITY_PLAN,
    flipZ: !!(m & 1),
    flipY: !!(m & 2),
    flipX: !!(m & 4),
    transpose: !!(m & 8),
  });

test('augmentation: geometry applied identically to raw and labels; boundary commutes with every plan', () => {
  const shape: Shape3 = [4, 16, 16];
  const { labels } = generateSynthetic({ shape, seed: 5, cellSize: 6 });
  const raw = Float32Array.from(labels.data, (v) => v / 1000);
  const bnd = labelsToBoundary(labels);
  for (const plan of ALL_PLANS) {
    const out = augmentCrop(plan, raw, labels.data, shape);
    close(
      out.raw,
      Array.from(out.labels!, (v) => v / 1000),
    );
    const b1 = labelsToBoundary({ data: out.labels!, shape, resolution: [1, 1, 1] });
    assert.equal(Array.from(b1), Array.from(applyGeometry(plan, bnd, shape)));
  }
  // y/x affinities commute with a z flip; a transpose swaps the y and x channels
  const n = 4 * 16 * 16;
  const aff = labelsToAffinities(labels);
  const chan = (a: Float32Array, c: number) => a.slice(c * n, (c + 1) * n);
  const zf = { ...IDENTITY_PLAN, flipZ: true };
  const affZ = labelsToAffinities({
    data: applyGeometry(zf, labels.data, shape),
    shape,
    resolution: [1, 1, 1],
  });
  assert.equal(Array.from(chan(affZ, 1)), Array.from(applyGeometry(zf, chan(aff, 1), shape)));
  assert.equal(Array.from(chan(affZ, 2)), Array.from(applyGeometry(zf, chan(aff, 2), shape)));
  const tp = { ...IDENTITY_PLAN, transpose: true };
  const affT = labelsToAffinities({
    data: applyGeometry(tp, labels.data, shape),
    shape,
    resolution: [1, 1, 1],
  });
  assert.equal(Array.from(chan(affT, 1)), Array.from(applyGeometry(tp, chan(aff, 2), shape)));
  assert.equal(Array.from(chan(affT, 0)), Array.from(applyGeometry(tp, chan(aff, 0), shape)));
  // a hand-checked flip: x flip of row [1 2 3] is [3 2 1]
  const fx = applyGeometry({ ...IDENTITY_PLAN, flipX: true }, Uint32Array.of(1, 2, 3, 4, 5, 6), [1, 2, 3]);
  assert.equal(Array.from(fx), [3, 2, 1, 6, 5, 4]);
  const t = applyGeometry(tp, Uint32Array.of(1, 2, 3, 4), [1, 2, 2]);
  assert.equal(Array.from(t), [1, 3, 2, 4]);
});

test('augmentation: intensity (raw only), missing section, seeded plans, no transpose on non-square crops', () => {
  const raw = Float32Array.of(0.2, 0.4, 0.6, 1);
  applyIntensity({ ...IDENTITY_PLAN, scale: 1.1, shift: 0.1 }, raw, [1, 2, 2]);
  close(raw, [0.32, 0.54, 0.76, 1]);
  const r2 = Float32Array.of(0, 0, 1, 1, 1, 1);
  applyIntensity({ ...IDENTITY_PLAN, missingSection: 2 }, r2, [3, 1, 2]);
  close(r2, [0, 0, 1, 1, 2 / 3, 2 / 3]); // the crop mean (4 / 6)
  const r3 = Float32Array.of(0.5, 0.5, 0.5, 0.5);
  applyIntensity({ ...IDENTITY_PLAN, missingSection: 0, missingFill: 'zero' }, r3, [2, 1, 2]);
  close(r3, [0, 0, 0.5, 0.5]);
  const draw = (seed: number) => {
    const r = Rng.fromSeed(seed);
    return Array.from({ length: 5 }, () => drawAugment(r, [4, 8, 8], { missingSectionProb: 0.5 }));
  };
  assert.equal(draw(9), draw(9));
  assert.not.equal(draw(9), draw(10));
  const r = Rng.fromSeed(1);
  for (let i = 0; i < 20; i++) assert.not.ok(drawAugment(r, [4, 8, 6], { transposeProb: 1 }).transpose);
  assert.ok(drawAugment(Rng.fromSeed(1), [4, 8, 8], { transposeProb: 1 }).transpose);
});

test('augmentation: noise of the drawn strength, replayed by its plan, raw only; options never shift the stream', () => {
  const shape: Shape3 = [2, 32, 32];
  const plan = { ...IDENTITY_PLAN, noiseStd: 0.05, noiseSeed: 7 };
  const a = new Float32Array(2 * 32 * 32).fill(0.5);
  const b = a.slice();
  applyIntensity(plan, a, shape);
  applyIntensity(plan, b, shape);
  assert.equal(Array.from(a), Array.from(b)); // the plan alone fixes the noise
  let m = 0;
  for (const v of a) m += v;
  m /= a.length;
  let q = 0;
  for (const v of a) q += (v - m) ** 2;
  const sd = Math.sqrt(q / a.length);
  assert.ok(Math.abs(m - 0.5) < 0.005, `noise mean ${m}`);
  assert.ok(Math.abs(sd - 0.05) < 0.005, `noise std ${sd} for 0.05`);
  const labels = Uint32Array.from({ length: a.length }, (_, i) => i);
  assert.equal(Array.from(augmentCrop(plan, a, labels, shape).labels!), Array.from(labels));
  // the strength is drawn from [0, noiseStd]; any options draw the same number of values
  const strengths = Array.from(
    { length: 50 },
    (_, i) => drawAugment(Rng.fromSeed(i), [4, 8, 8], { noiseStd: 0.1 }).noiseStd,
  );
  assert.ok(Math.min(...strengths) >= 0 && Math.max(...strengths) <= 0.1 && Math.max(...strengths) > 0.05);
  const r1 = Rng.fromSeed(3);
  const r2 = Rng.fromSeed(3);
  drawAugment(r1, [4, 8, 8], { noiseStd: 0.1, missingSectionProb: 0.5 });
  drawAugment(r2, [4, 8, 8]);
  assert.is(r1.next(), r2.next());
  assert.is(drawAugment(Rng.fromSeed(3), [4, 8, 8]).noiseStd, 0);
});

test('augmentation: elastic deformation bends raw and labels with one field, replays by its plan, off by default', () => {
  const shape: Shape3 = [2, 64, 64];
  const n = 2 * 64 * 64;
  // stripes 8 px wide along x and y: label ids 1..64, raw = id / 100 (so raw and labels can be compared)
  const labels = Uint32Array.from(
    { length: n },
    (_, i) => 1 + (Math.floor((i % 64) / 8) + 8 * Math.floor(((i >> 6) % 64) / 8)),
  );
  const raw = Float32Array.from(labels, (l) => l / 100);
  const plan = { ...IDENTITY_PLAN, elasticStd: 4, elasticSpacing: 16, elasticSeed: 11 };
  const a = augmentCrop(plan, raw, labels, shape);
  const b = augmentCrop(plan, raw, labels, shape);
  assert.equal(Array.from(a.raw), Array.from(b.raw)); // the plan alone fixes the field
  assert.equal(Array.from(a.labels!), Array.from(b.labels!));
  let moved = 0;
  let agree = 0;
  const ids = new Set(labels);
  for (let i = 0; i < n; i++) {
    if (a.labels![i] !== labels[i]) moved++;
    if (Math.abs(a.raw[i]! * 100 - a.labels![i]!) < 1e-3) agree++;
    assert.ok(ids.has(a.labels![i]!), 'labels are moved, never invented');
  }
  assert.ok(moved > n * 0.1, `deformation moved ${moved} of ${n} label voxels`);
  // raw (bilinear) and labels (nearest) read the same place: they differ only along the stripes' edges
  assert.ok(agree > n * 0.7, `raw and labels agree on ${agree} of ${n} voxels`);
  // both sections get the same field
  assert.equal(Array.from(a.labels!.subarray(0, n / 2)), Array.from(a.labels!.subarray(n / 2)));
  // a constant image stays constant
  assert.ok(
    augmentCrop(plan, new Float32Array(n).fill(0.3), undefined, shape).raw.every(
      (v) => Math.abs(v - 0.3) < 1e-6,
    ),
  );
  // displacements of about the asked size (bilinear between nodes shrinks them: rms between 0.3 and 1.2 std)
  const [dy, dx] = elasticField({ ...plan, elasticSpacing: 16 }, 512, 512);
  let q = 0;
  for (let i = 0; i < dy.length; i++) q += dy[i]! ** 2 + dx[i]! ** 2;
  const rms = Math.sqrt(q / (2 * dy.length));
  assert.ok(rms > 0.3 * 4 && rms < 1.2 * 4, `displacement rms ${rms} for std 4`);
  // off by default, and turning it on draws nothing more (every other augmentation stays in place)
  assert.is(drawAugment(Rng.fromSeed(3), [4, 8, 8]).elasticStd, 0);
  assert.equal(Array.from(augmentCrop(IDENTITY_PLAN, raw, labels, shape).labels!), Array.from(labels));
  const r1 = Rng.fromSeed(5);
  const r2 = Rng.fromSeed(5);
  const p1 = drawAugment(r1, [4, 8, 8], { elasticStd: 4 });
  const p2 = drawAugment(r2, [4, 8, 8]);
  assert.equal({ ...p1, elasticStd: 0 }, p2);
  assert.is(r1.next(), r2.next());
});

/** A volume whose raw value encodes the voxel index, so a crop reveals where it came from. */
function indexVolume(shape: Shape3) {
  const n = shape[0] * shape[1] * shape[2];
  return {
    raw: { data: Float32Array.from({ length: n }, (_, i) => i / n), shape, resolution: [40, 4, 4] as Shape3 },
    labels: {
      data: Uint32Array.from({ length: n }, (_, i) => i + 1),
      shape,
      resolution: [40, 4, 4] as Shape3,
    },
  };
}

test('crop sampler: crops are blocks of the volume, labels aligned, z range respected, seeded', () => {
  const shape: Shape3 = [10, 20, 24];
  const [, H, W] = shape;
  const src = indexVolume(shape);
  const crop: Shape3 = [3, 4, 5];
  const s = new CropSampler(src, { crop, rng: Rng.fromSeed(1), zRange: [2, 8] });
  const b = s.sample(6);
  assert.is(b.n, 6);
  assert.equal(b.shape, crop);
  assert.is(b.raw.length, 6 * 60);
  for (let k = 0; k < 6; k++) {
    const first = b.labels![k * 60]! - 1; // voxel index of the crop's (0,0,0)
    const oz = Math.floor(first / (H * W));
    const oy = Math.floor(first / W) % H;
    const ox = first % W;
    assert.ok(oz >= 2 && oz + 3 <= 8, `z offset ${oz}`);
    assert.ok(oy + 4 <= H && ox + 5 <= W);
    for (let z = 0; z < 3; z++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 5; x++) {
          const j = k * 60 + (z * 4 + y) * 5 + x;
          const v = ((oz + z) * H + oy + y) * W + ox + x;
          assert.is(b.labels![j], v + 1);
          assert.is(b.raw[j], src.raw.data[v]);
        }
  }
  const again = new CropSampler(src, { crop, rng: Rng.fromSeed(1), zRange: [2, 8] }).sample(6);
  assert.equal(Array.from(again.labels!), Array.from(b.labels!));
  // augmentation draws from its own stream: the same crops (as sets of voxels) come out
  const aug = new CropSampler(src, { crop: [3, 4, 4], rng: Rng.fromSeed(1), augment: true }).sample(4);
  const plain = new CropSampler(src, { crop: [3, 4, 4], rng: Rng.fromSeed(1) }).sample(4);
  for (let k = 0; k < 4; k++) {
    const sorted = (a: Uint32Array) => Array.from(a.subarray(k * 48, (k + 1) * 48)).sort((p, q) => p - q);
    assert.equal(sorted(aug.labels!), sorted(plain.labels!));
  }
  // resume from a saved state
  const s1 = new CropSampler(src, { crop, rng: Rng.fromSeed(4), augment: true });
  s1.sample(2);
  const st = JSON.parse(JSON.stringify(s1.getState()));
  const want = s1.sample(3);
  const s2 = new CropSampler(src, { crop, rng: Rng.fromSeed(99), augment: true });
  s2.setState(st);
  assert.equal(Array.from(s2.sample(3).raw), Array.from(want.raw));
});

test('crop sampler: avoidEmpty rejects flat crops; bad shapes are InputErrors naming both shapes', () => {
  // half the volume is flat (x < 32), half is noisy
  const shape: Shape3 = [4, 16, 64];
  const data = new Float32Array(4 * 16 * 64);
  const r = Rng.fromSeed(2);
  for (let i = 0; i < data.length; i++) data[i] = i % 64 >= 32 ? r.next() : 0.5;
  const src = { raw: { data, shape, resolution: [40, 4, 4] as Shape3 } };
  const s = new CropSampler(src, { crop: [2, 8, 8], rng: Rng.fromSeed(3), avoidEmpty: true, maxTries: 50 });
  const b = s.sample(20);
  assert.is(b.labels, undefined);
  for (let k = 0; k < 20; k++) {
    const c = b.raw.subarray(k * 128, (k + 1) * 128);
    assert.ok(
      c.some((v) => v !== 0.5),
      `crop ${k} is flat`,
    );
  }
  const err = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof InputError && re.test((e as Error).message));
  err(
    () => new CropSampler(src, { crop: [8, 8, 8], rng: r }),
    /crop \[8,8,8\] is larger than volume \[4,16,64\]/,
  );
  err(
    () => new CropSampler(src, { crop: [2, 8, 8], rng: r, zRange: [3, 4] }),
    /larger than volume \[1,16,64\]/,
  );
  err(() => new CropSampler(src, { crop: [2, 8, 8], rng: r, zRange: [0, 9] }), /zRange/);
  err(
    () =>
      new CropSampler(
        {
          raw: src.raw,
          labels: { data: new Uint32Array(4 * 16 * 63), shape: [4, 16, 63], resolution: [1, 1, 1] },
        },
        { crop: [2, 8, 8], rng: r },
      ),
    /labels shape \[4,16,63\] differs from raw shape \[4,16,64\]/,
  );
});

test.run();

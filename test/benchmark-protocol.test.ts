import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type ConfigInput } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { labelsToAffinities } from '../src/data/affinities.js';
import { CropPoolSampler } from '../src/data/crop-pool.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import {
  labelBudgetCrops,
  runConfig,
  runSpecs,
  type BenchmarkOptions,
} from '../src/tasks/benchmark/benchmark.js';
import { pairedDifference, studentTQuantile } from '../src/tasks/benchmark/paired-stats.js';
import { resultFile } from '../src/tasks/benchmark/run-spec.js';
import { heldOutAffinityLoss, scoreOnSplit } from '../src/tasks/benchmark/score-split.js';
import { loadDataSplit } from '../src/tasks/data-split.js';
import { encoderFromTensors } from '../src/tasks/segmentation/encoder-source.js';
import { finetune } from '../src/tasks/segmentation/finetune.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

/*
 * The benchmark's protocol: paired statistics, label budgets (the same crops for every row at a seed;
 * finetuning draws only from them), the frozen-encoder probe, parameters chosen on validation only, and
 * the split a data file must state.
 */

const seeds = (xs: number[]) => new Map(xs.map((x, i) => [i + 1, x] as [number, number]));

test('paired statistics: hand-computed mean, t interval, wins, detectable difference', () => {
  // t quantiles against the table (df 1, 2, 4, 9)
  for (const [df, q975, q80] of [
    [1, 12.7062, 1.3764],
    [2, 4.3027, 1.0607],
    [4, 2.7764, 0.941],
    [9, 2.2622, 0.8834],
  ] as const) {
    assert.ok(Math.abs(studentTQuantile(0.975, df) - q975) < 1e-4, `t(0.975, ${df})`);
    assert.ok(Math.abs(studentTQuantile(0.8, df) - q80) < 1e-4, `t(0.8, ${df})`);
  }
  // row 1.00 1.20 0.90 vs baseline 1.10 1.25 1.10 (+ a seed only the baseline has: left out)
  // d = -0.10 -0.05 -0.20; mean -0.116667; sd = sqrt(((0.016667)^2 + (0.066667)^2 + (0.083333)^2) / 2)
  //   = sqrt(0.0116667 / 2) = 0.0763763; se = 0.0440959; t(0.975, 2) = 4.302653
  // interval -0.116667 -/+ 0.189730 = [-0.306396, 0.073062]; wins 3; detectable (4.302653 + 1.060660) se
  const d = pairedDifference(
    seeds([1.0, 1.2, 0.9]),
    new Map([
      [1, 1.1],
      [2, 1.25],
      [3, 1.1],
      [4, 9],
    ]),
  );
  assert.equal(d.seeds, [1, 2, 3]);
  const near = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
  near(d.mean, -0.116667, 'mean');
  near(d.sd!, 0.0763763, 'sd');
  near(d.interval![0], -0.306396, 'lower');
  near(d.interval![1], 0.073062, 'upper');
  near(d.detectable!, (4.302653 + 1.06066) * 0.0440959, 'detectable');
  assert.is(d.wins, 3);
  assert.is(d.detected, false, 'the interval includes zero');
  // a consistent difference is detected; one pair has no interval
  const e = pairedDifference(seeds([1.0, 1.01, 0.99]), seeds([1.2, 1.2, 1.2]));
  near(e.mean, -0.2, 'mean');
  assert.ok(e.detected && e.interval![1] < 0);
  const one = pairedDifference(seeds([1]), seeds([2]));
  assert.is(one.interval, null);
  assert.is(one.detectable, null);
  assert.is(one.detected, false);
  assert.is(one.wins, 0 + 1);
});

test('label budgets: the same k crops for every row at a seed, other crops at another seed; finetuning draws only from them', async () => {
  const config: ConfigInput = {
    ...TINY_BENCH_CONFIG,
    model: { ...TINY_BENCH_CONFIG.model, crop: [4, 32, 32] },
  };
  const opts: BenchmarkOptions = { preset: 'quick', data: null, outDir: 'unused', config };
  const split1 = await loadDataSplit(runConfig(opts, 'random', 1));
  const crops = (policy: string, seed: number, split = split1) =>
    labelBudgetCrops(split, runConfig(opts, policy, seed), [4, 'all'])!;
  const a = crops('random', 1);
  assert.is(a.n, 4);
  for (const p of ['mixed', 'ippo', 'scratch', 'random-long']) {
    const b = crops(p, 1);
    assert.equal(b.raw, a.raw, `${p}: raw`);
    assert.equal(b.labels, a.labels, `${p}: labels`);
  }
  const c = crops('random', 2, await loadDataSplit(runConfig(opts, 'random', 2)));
  assert.not.equal(c.raw, a.raw, 'another seed draws other crops');
  // a budget k is the first k of the pool (nested budgets)
  const small = labelBudgetCrops(split1, runConfig(opts, 'mixed', 1), [2])!;
  assert.equal(small.raw, a.raw.subarray(0, small.raw.length));

  // every crop the pool sampler hands out is one of the pool's (no augmentation: exact copies)
  const pool = new CropPoolSampler(small, {
    crop: [4, 32, 32],
    rng: Rng.fromSeed(3),
    augment: false,
    resolution: [1, 1, 1],
  });
  const vox = 4 * 32 * 32;
  const seen = new Set<number>();
  const batch = pool.sample(12);
  for (let b = 0; b < 12; b++) {
    const x = batch.raw.subarray(b * vox, (b + 1) * vox);
    const k = [0, 1].find((i) => x.every((v, j) => v === small.raw[i * vox + j]));
    assert.ok(k !== undefined, `draw ${b} is not a pool crop`);
    seen.add(k!);
  }
  assert.is(seen.size, 2, 'both crops are drawn');

  // runs carry the readouts as evaluations; `scratch` pretrains nothing; the long control pretrains longer
  const specs = runSpecs({ ...opts, seeds: [1], readouts: { probe: [4], finetune: [4, 'all'] } });
  // scratch shares no pretraining between its evaluations: one part each, in the same directory
  assert.equal(
    specs.map((s) => [s.policy, s.pretrainAgent, s.part ?? null]),
    [
      ['random', 'random', null],
      ['ippo', 'ippo', null],
      ['scratch', null, 'probe-k4'],
      ['scratch', null, 'finetune-k4'],
      ['scratch', null, 'finetune-all'],
    ],
  );
  assert.equal(
    specs.slice(2).map((s) => [s.dir, s.evaluations.length, resultFile(s)]),
    ['probe-k4', 'finetune-k4', 'finetune-all'].map((p) => [
      join('runs', 'scratch-s1'),
      1,
      `result-${p}.json`,
    ]),
  );
  assert.equal(specs[0]!.evaluations, [
    { readout: 'probe', labelBudget: 4 },
    { readout: 'finetune', labelBudget: 4 },
    { readout: 'finetune', labelBudget: 'all' },
  ]);
  const cal = runSpecs({ preset: 'calibrate', data: null, outDir: 'unused', config });
  const long = cal.find((s) => s.policy === 'random-long')!;
  const rnd = cal.find((s) => s.policy === 'random' && s.seed === long.seed)!;
  assert.is(long.pretrainAgent, 'random');
  assert.is(long.config.train.phase1Steps, 4 * rnd.config.train.phase1Steps);
});

test('probe readout: encoder weights stay bit-identical, only the decoder learns; finetune moves the encoder', async () => {
  await selectBackend();
  const base = resolveConfig({
    ...TINY_BENCH_CONFIG,
    model: { ...TINY_BENCH_CONFIG.model, crop: [4, 32, 32] },
    finetune: { steps: 3, batchSize: 1, validEvery: 0 },
  });
  const vol = generateSynthetic({ shape: [8, 48, 48], seed: 'probe' });
  // "pretrained" weights: another network's random encoder
  const donor = new AffinityNet(base.model, base.finetune, Rng.fromSeed(99));
  const weights = encoderFromTensors(donor.namedWeights(), base.model, 'donor');
  donor.dispose();
  const before = tf.memory().numTensors;
  const run = async (freezeEncoder: boolean) => {
    const config = { ...base, finetune: { ...base.finetune, freezeEncoder } };
    const ft = await finetune({
      config,
      encoderWeights: weights,
      train: { raw: vol.raw, labels: vol.labels! },
      keepModel: true,
    });
    const net = ft.net!;
    const named = new Map(net.namedWeights().map((w) => [w.name, w.tensor.dataSync().slice()]));
    net.dispose();
    return named;
  };
  const probe = await run(true);
  const full = await run(false);
  assert.is(tf.memory().numTensors, before, 'no tensor leaks');
  let encoderTensors = 0;
  for (const [name, t] of weights.checkpoint.tensors) {
    encoderTensors++;
    const p = probe.get(name)!;
    assert.ok(
      p.length === t.data.length && p.every((v, i) => Object.is(v, t.data[i])),
      `probe changed ${name}`,
    );
  }
  assert.ok(encoderTensors > 5);
  const moved = (m: typeof full, prefix: string) =>
    [...m].some(
      ([n, x]) => n.startsWith(prefix) && x.some((v, i) => v !== weights.checkpoint.tensors.get(n)?.data[i]),
    );
  assert.ok(moved(full, 'encoder/'), 'full finetuning updates the encoder');
  // the decoder learned under the probe: it differs from the same seed's untrained decoder
  const fresh = new AffinityNet(
    base.model,
    base.finetune,
    Rng.fromSeed(base.seed).split('finetune').split('model'),
  );
  const init = new Map(fresh.namedWeights().map((w) => [w.name, w.tensor.dataSync().slice()]));
  fresh.dispose();
  assert.ok(
    [...probe].some(([n, x]) => n.startsWith('seg/') && x.some((v, i) => v !== init.get(n)![i])),
    'the probe trains the decoder',
  );
});

test('validation-chosen parameters never look at test labels (test and validation disagree)', () => {
  const config = resolveConfig({
    eval: { mode2d: true, minSize: 0, seedH: [0.05, 0.2], thresholds: [0.2, 0.5, 0.8] },
  });
  const vol = (seed: number) => {
    const { raw, labels } = generateSynthetic({ shape: [2, 64, 64], seed });
    return { raw, labels: labels! };
  };
  // noisy ground-truth affinities, like a learned map
  const noisy = (v: ReturnType<typeof vol>, seed: number) => {
    const rng = Rng.fromSeed(seed);
    return labelsToAffinities(v.labels).map((a) =>
      Math.min(1, Math.max(0, 0.15 + 0.7 * a + 0.3 * (rng.next() - 0.5))),
    );
  };
  const valid = vol(11);
  const test0 = vol(12);
  const aff = { valid: noisy(valid, 1), test: noisy(test0, 2) };
  // test labels that say "every voxel is its own object": on test the least merging threshold would win
  const split = test0.labels.data.map((_, i) => i + 1);
  const oversplit = { ...test0, labels: { ...test0.labels, data: split } };
  const a = scoreOnSplit(
    { affinities: aff.valid, volume: valid },
    { affinities: aff.test, volume: test0 },
    config,
  );
  const b = scoreOnSplit(
    { affinities: aff.valid, volume: valid },
    { affinities: aff.test, volume: oversplit },
    config,
  );
  const bestOnTest = b.perThreshold.reduce((x, y) => (y.voi_sum < x.voi_sum ? y : x));
  assert.not.equal(
    bestOnTest.threshold,
    b.validation.threshold,
    'the fixture must make test and validation disagree',
  );
  assert.equal(a.validation, b.validation, 'the choice does not depend on test labels');
  assert.is(b.test.threshold, b.validation.threshold);
  assert.is(b.test.seedH, b.validation.seedH);
  assert.is(b.test.voi_sum, b.perThreshold.find((t) => t.threshold === b.validation.threshold)!.voi_sum);
});

test('a data file other than the shipped stack needs an explicit split: the error names the fields', () => {
  const opts = { preset: 'quick' as const, data: 'my-volume.h5', outDir: 'unused' };
  assert.throws(
    () => runConfig(opts, 'random', 1),
    (e: Error) => /my-volume\.h5.*data\.trainZ, data\.validZ, data\.evalZ/.test(e.message),
  );
  assert.throws(
    () => runConfig({ ...opts, config: { data: { trainZ: [0, 8], evalZ: [10, 12] } } }, 'random', 1),
    (e: Error) => /set data\.validZ \(/.test(e.message),
  );
  const ok = runConfig(
    { ...opts, config: { data: { trainZ: [0, 8], validZ: [8, 10], evalZ: [10, 12] } } },
    'random',
    1,
  );
  assert.equal(ok.data.validZ, [8, 10]);
  const isbi = runConfig({ ...opts, data: 'data/isbi2012_train.h5' }, 'random', 1);
  assert.equal(
    [isbi.data.trainZ, isbi.data.validZ, isbi.data.evalZ],
    [
      [0, 16],
      [16, 20],
      [20, 30],
    ],
  );
});

test.run();

test('held-out affinity loss: the finetuning objective of the map (0 for the labels, ln 2 for 0.5, ordered)', async () => {
  await selectBackend();
  const config = resolveConfig({ finetune: { boundaryWeight: 2, channelWeights: [0, 1, 1] } });
  const { raw, labels } = generateSynthetic({ shape: [2, 32, 32], seed: 5 });
  const v = { raw, labels: labels! };
  const truth = labelsToAffinities(v.labels);
  const before = tf.memory().numTensors;
  const exact = heldOutAffinityLoss(truth, v, config);
  const half = heldOutAffinityLoss(
    truth.map(() => 0.5),
    v,
    config,
  );
  // the truth blurred towards 0.5 scores between the two
  const soft = heldOutAffinityLoss(
    truth.map((a) => 0.2 + 0.6 * a),
    v,
    config,
  );
  // the truth with the y and x channels swapped is wrong where the two disagree
  const n = truth.length / 3;
  const swapped = truth.slice();
  swapped.set(truth.subarray(2 * n, 3 * n), n);
  swapped.set(truth.subarray(n, 2 * n), 2 * n);
  assert.ok(exact < 1e-4, `exact ${exact}`);
  assert.ok(Math.abs(half - Math.LN2) < 1e-5, `half ${half}`);
  assert.ok(exact < soft && soft < half, `soft ${soft}`);
  assert.ok(heldOutAffinityLoss(swapped, v, config) > soft, 'a wrong map scores worse');
  assert.is(tf.memory().numTensors, before);
});

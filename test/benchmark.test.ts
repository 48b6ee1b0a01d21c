import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { runBenchmark, type BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import type { EvaluationRecord } from '../src/tasks/benchmark/results.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

// The whole benchmark on synthetic volumes with a very small model and a handful of steps: it must
// write every output, score every run at every readout and label budget, pair the rows over seeds, leak
// no tensors and skip finished runs on a re-run. The crop is smaller than the volume so label budgets
// are real subsets.
const opts = (outDir: string, log: (l: string) => void): BenchmarkOptions => ({
  preset: 'quick',
  data: null,
  outDir,
  policies: ['random'],
  seeds: [1, 2],
  readouts: { probe: [2], finetune: ['all'] },
  log,
  config: { ...TINY_BENCH_CONFIG, model: { ...TINY_BENCH_CONFIG.model, crop: [8, 32, 32] } },
});

test('benchmark: results, report rows, figures; tensors flat; finished runs skipped on re-run', async () => {
  await selectBackend();
  const out = mkdtempSync(join(tmpdir(), 'dbmim-bench-'));
  const lines: string[] = [];
  const before = tf.memory().numTensors;
  const { report, results } = await runBenchmark(opts(out, (l) => lines.push(l)));
  assert.is(tf.memory().numTensors, before, 'the benchmark leaks no tensors');
  assert.equal(results.policies, ['random', 'scratch']);
  assert.is(results.runs.length, 4);
  for (const r of results.runs) {
    assert.equal(
      r.evaluations.map((e) => `${e.readout} ${e.labelBudget}`),
      ['probe 2', 'finetune all'],
    );
    for (const e of r.evaluations) {
      const at = `${r.policy} s${r.seed} ${e.readout} ${e.labelBudget}`;
      assert.ok(Number.isFinite(e.test.voi_sum) && e.test.voi_sum >= 0, `${at} voi_sum`);
      assert.ok(e.test.arand >= 0 && e.test.arand <= 1, `${at} arand`);
      assert.is(e.test.threshold, e.validation.threshold, `${at}: test scored at the validation choice`);
      assert.ok(e.split.valid && e.split.test, `${at}: split recorded`);
      assert.is(e.labelCrops?.k ?? 'all', e.labelBudget);
      for (const part of ['validation', 'test'] as const)
        assert.ok(
          e.affinityLoss && e.affinityLoss[part] > 0 && e.affinityLoss[part] < 10,
          `${at} ${part} loss`,
        );
    }
  }
  // the probe reads the frozen encoder through the token head (no in-plane U-Net); finetuning keeps it
  const head = async (part: string) => {
    const net = await AffinityNet.load(join(out, 'runs', 'random-s1', part, 'finetune', 'model'));
    const widths = net.options.inPlaneChannels;
    net.dispose();
    return widths;
  };
  assert.equal(await head('probe-k2'), []);
  assert.ok((await head('finetune-all'))!.length > 0);
  // the same labelled crops for both rows at a seed, other crops at the other seed
  const hash = (policy: string, seed: number) =>
    results.runs.find((r) => r.policy === policy && r.seed === seed)!.evaluations[0]!.labelCrops!.sha256;
  assert.is(hash('random', 1), hash('scratch', 1));
  assert.is(hash('random', 2), hash('scratch', 2));
  assert.is.not(hash('random', 1), hash('random', 2));
  // random - scratch paired over the two seeds, for the three scores at every readout and budget
  assert.is(results.comparisons.length, 2 * 3);
  for (const c of results.comparisons) {
    assert.is(c.row, 'random');
    assert.is(c.baseline, 'scratch');
    assert.equal(c.seeds, [1, 2]);
    const diffs = [1, 2].map((seed) => {
      const e = (p: string) =>
        results.runs
          .find((r) => r.policy === p && r.seed === seed)!
          .evaluations.find((x) => x.readout === c.readout && x.labelBudget === c.labelBudget)!;
      const score = (x: EvaluationRecord) =>
        c.score === 'affinity_loss' ? x.affinityLoss!.test : x.test[c.score];
      return score(e('random')) - score(e('scratch'));
    });
    assert.equal(c.differences, diffs);
    assert.ok(c.interval && c.interval[0] <= c.mean && c.mean <= c.interval[1]);
  }
  const md = readFileSync(report, 'utf8');
  // the report opens with the paired table and says the thresholds were chosen on validation
  assert.match(
    md.split('\n').find((l) => l.startsWith('## '))!,
    /Paired differences/,
  );
  assert.match(md, /thresholds were chosen on validation/);
  assert.match(md, /\| random - scratch \| probe \| k=2 \| VOI sum \|/);
  assert.match(md, /Pretrained \(random masking\) vs scratch, finetuned: (not )?detected/);
  assert.match(md, /\| random \| finetune \| all \| 2 \|/);
  assert.match(md, /\| scratch \| probe \| k=2 \| 2 \|/);
  assert.not.match(md, /n\/a ± n\/a/, 'a heuristic has no entropy: one n/a, not a mean ± std of n/a');
  for (const f of ['results.json', 'mim-loss.svg', 'reward.svg', 'mask-ratio.svg', 'masks.png'])
    assert.ok(existsSync(join(out, f)), `missing ${f}`);
  assert.is(lines.filter((l) => l.includes('skipped')).length, 0);

  const again: string[] = [];
  const second = await runBenchmark(opts(out, (l) => again.push(l)));
  // per seed: random, and scratch's two parts (one per evaluation)
  assert.is(again.filter((l) => l.includes('finished earlier, skipped')).length, 6);
  assert.equal(second.results.runs, results.runs);
});

test('a crop larger than the training volume: one error before any run starts', async () => {
  await selectBackend();
  const out = mkdtempSync(join(tmpdir(), 'dbmim-bench-crop-'));
  const lines: string[] = [];
  const big = opts(out, (l) => lines.push(l));
  big.config = { ...TINY_BENCH_CONFIG, model: { ...TINY_BENCH_CONFIG.model, crop: [4, 128, 128] } };
  try {
    await runBenchmark(big);
    assert.unreachable('the benchmark started with a crop larger than its volume');
  } catch (e) {
    assert.match((e as Error).message, /model\.crop 4x128x128 is larger than the training volume 16x64x64/);
  }
  assert.not.ok(existsSync(join(out, 'runs')), 'no run started');
  assert.is(lines.filter((l) => l.includes('started')).length, 0);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { runBenchmark, type BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

// The whole benchmark on synthetic volumes with a very small model and a handful of steps: it must
// write every output, score every run, leak no tensors and skip finished runs on a re-run.
const opts = (outDir: string, log: (l: string) => void): BenchmarkOptions => ({
  preset: 'quick',
  data: null,
  outDir,
  policies: ['random'],
  seeds: [1, 2],
  log,
  config: TINY_BENCH_CONFIG,
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
    assert.ok(Number.isFinite(r.test.voi_sum) && r.test.voi_sum >= 0, `${r.policy} s${r.seed} voi_sum`);
    assert.ok(r.test.arand >= 0 && r.test.arand <= 1, `${r.policy} s${r.seed} arand`);
  }
  const md = readFileSync(report, 'utf8');
  assert.match(md, /\| random \| 2 \|/);
  assert.match(md, /\| scratch \| 2 \|/);
  assert.not.match(md, /n\/a ± n\/a/, 'a heuristic has no entropy: one n/a, not a mean ± std of n/a');
  for (const f of ['results.json', 'mim-loss.svg', 'reward.svg', 'mask-ratio.svg', 'masks.png'])
    assert.ok(existsSync(join(out, f)), `missing ${f}`);
  assert.is(lines.filter((l) => l.includes('skipped')).length, 0);

  const again: string[] = [];
  const second = await runBenchmark(opts(out, (l) => again.push(l)));
  assert.is(again.filter((l) => l.includes('finished earlier, skipped')).length, 4);
  assert.equal(
    second.results.runs.map((r) => r.test.voi_sum),
    results.runs.map((r) => r.test.voi_sum),
  );
});

test.run();

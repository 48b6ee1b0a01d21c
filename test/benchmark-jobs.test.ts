import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { selectBackend } from '../src/core/backend.js';
import { runBenchmark, runSpecs, type BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import { dispatchOrder, runCost, workerExecArgv } from '../src/tasks/benchmark/jobs.js';
import type { BenchmarkResults, RunRecord } from '../src/tasks/benchmark/results.js';
import { runLabel } from '../src/tasks/benchmark/run-spec.js';
import { runCli } from './cli-harness.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

// `--jobs`: runs in worker processes give the same records as one worker running them one after the
// other; a killed worker loses only its own run, which the next invocation executes.
const opts = (outDir: string, jobs: number, log: (l: string) => void): BenchmarkOptions => ({
  preset: 'quick',
  data: null,
  outDir,
  policies: ['random'],
  seeds: [1, 2],
  noScratch: true,
  jobs,
  log,
  readouts: { finetune: ['all'] },
  config: TINY_BENCH_CONFIG,
});

/** A record without its wall-clock fields (everything else must match bit for bit). */
function numbers(r: RunRecord): unknown {
  return {
    policy: r.policy,
    seed: r.seed,
    mimLoss: r.pretrain?.mimLoss,
    reward: r.pretrain?.reward,
    maskRatio: r.pretrain?.maskRatio,
    diagnostics: r.pretrain?.diagnostics,
    evaluations: r.evaluations.map((e) => ({
      trainLoss: e.finetune.trainLoss,
      perThreshold: e.perThreshold,
      test: e.test,
      validation: e.validation,
      labelCrops: e.labelCrops,
    })),
    maskPreview: r.maskPreview,
  };
}

const readResults = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchmarkResults;

let serial: BenchmarkResults;

test('bench --jobs 1 and --jobs 2: results.json identical run by run; progress names every active run', async () => {
  await selectBackend();
  const out1 = mkdtempSync(join(tmpdir(), 'dbmim-jobs1-'));
  const out2 = mkdtempSync(join(tmpdir(), 'dbmim-jobs2-'));
  await runBenchmark(opts(out1, 1, () => undefined));
  const lines: string[] = [];
  await runBenchmark(opts(out2, 2, (l) => lines.push(l)));
  serial = readResults(out1);
  const parallel = readResults(out2);
  assert.is(serial.runs.length, 2);
  assert.is(serial.failed, undefined);
  assert.equal(
    parallel.runs.map((r) => `${r.policy}-s${r.seed}`),
    ['random-s1', 'random-s2'],
  );
  assert.equal(parallel.runs.map(numbers), serial.runs.map(numbers));
  // The seeds differ, so equal records are not a constant: the pretraining curves must differ.
  assert.not.equal(serial.runs[0]!.pretrain!.mimLoss, serial.runs[1]!.pretrain!.mimLoss);
  // Two worker processes, and a progress line naming both runs while both were active.
  const pids = new Set(lines.map((l) => /started in worker process (\d+)/.exec(l)?.[1]).filter(Boolean));
  assert.is(pids.size, 2, lines.join('\n'));
  // Both have exited (and been reaped) by the time runBenchmark returns: none outlives it.
  for (const pid of pids) assert.throws(() => process.kill(Number(pid), 0), /ESRCH/);
  assert.ok(
    lines.some((l) => /active: .*random-s1.*random-s2|active: .*random-s2.*random-s1/.test(l)),
    'a progress line lists both active runs',
  );
});

test('bench --jobs: a killed worker loses only its run; the report lists it; a re-run executes only it, same numbers', async () => {
  const out = mkdtempSync(join(tmpdir(), 'dbmim-jobskill-'));
  let killed = false;
  const pidOf = new Map<string, number>();
  const first = await runBenchmark(
    opts(out, 2, (l) => {
      // Kill the worker of random-s2 once it reports pretraining progress.
      if (!killed && /active: .*random-s2 pretrain/.test(l)) {
        killed = true;
        process.kill(pidOf.get('random-s2')!, 'SIGKILL');
      }
      const s = /(random-s\d): started in worker process (\d+)/.exec(l);
      if (s) pidOf.set(s[1]!, Number(s[2]));
    }),
  );
  assert.ok(killed, 'the worker was killed');
  assert.equal(
    first.results.runs.map((r) => r.seed),
    [1],
  );
  assert.is(first.results.failed?.length, 1);
  assert.is(first.results.failed![0]!.seed, 2);
  assert.match(first.results.failed![0]!.error, /killed by SIGKILL/);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Failed runs[\s\S]*\| random \| 2 \|/);

  // The re-run in this process (no --jobs): the same records as the worker processes gave.
  const again: string[] = [];
  const second = await runBenchmark({ ...opts(out, 1, (l) => again.push(l)), jobs: undefined });
  assert.is(again.filter((l) => l.includes('finished earlier, skipped')).length, 1);
  assert.is(second.results.failed, undefined);
  assert.equal(second.results.runs.map(numbers), serial.runs.map(numbers));
});

test('bench --jobs: runs are handed out longest first (a probe step costs less), equals in report order', () => {
  // random pretrains and does both readouts; scratch is split into one run per readout
  const specs = runSpecs({
    ...opts('', 2, () => undefined),
    noScratch: false,
    readouts: { probe: [16], finetune: ['all'] },
  });
  const names = specs.map(runLabel);
  assert.equal(names, [
    'random-s1',
    'scratch-s1/probe-k16',
    'scratch-s1/finetune-all',
    'random-s2',
    'scratch-s2/probe-k16',
    'scratch-s2/finetune-all',
  ]);
  const { train, finetune } = specs[0]!.config;
  // a probe step (frozen encoder) counts 0.4 of a finetuning step
  assert.is(
    runCost(specs[0]!),
    train.phase1Steps + train.phase2Steps + (0.4 * finetune.steps + finetune.steps),
  );
  assert.is(runCost(specs[1]!), 0.4 * finetune.steps);
  assert.is(runCost(specs[2]!), finetune.steps);
  // the two finetunes go out before the two probes, so two lanes get one of each
  assert.equal(
    dispatchOrder(specs).map((i) => names[i]),
    [
      'random-s1',
      'random-s2',
      'scratch-s1/finetune-all',
      'scratch-s2/finetune-all',
      'scratch-s1/probe-k16',
      'scratch-s2/probe-k16',
    ],
  );
});

test('bench --jobs: not a positive integer is one clear error', async () => {
  const out = mkdtempSync(join(tmpdir(), 'dbmim-jobsbad-'));
  const r = await runCli('bench', '--synthetic', '--out', out, '--jobs', '0');
  assert.is(r.code, 1);
  assert.equal(r.err, ["error: --jobs: expected an integer in [1, 256], got '0'"]);
});

test('workers get a 64 MB young generation unless the user sets one, and tsx only for a .ts entry', () => {
  assert.equal(workerExecArgv([], 'run-child.js', ''), ['--max-semi-space-size=64']);
  assert.equal(workerExecArgv(['--max-semi-space-size=8'], 'run-child.js', ''), ['--max-semi-space-size=8']);
  assert.equal(workerExecArgv(['--min_semi_space_size=32'], 'run-child.js', ''), [
    '--min_semi_space_size=32',
  ]);
  assert.equal(workerExecArgv([], 'run-child.js', '--max-semi-space-size=32 --trace-warnings'), []);
  assert.equal(workerExecArgv([], 'run-child.js', '--trace-warnings'), ['--max-semi-space-size=64']);
  assert.equal(workerExecArgv([], 'run-child.ts', ''), ['--import', 'tsx', '--max-semi-space-size=64']);
  assert.equal(workerExecArgv(['--import', 'tsx'], 'run-child.ts', ''), [
    '--import',
    'tsx',
    '--max-semi-space-size=64',
  ]);
  // Node takes the flag as given (an unknown or malformed V8 flag would stop it)
  const r = spawnSync(process.execPath, [...workerExecArgv([], 'x.js', ''), '-p', 'process.execArgv[0]'], {
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), '--max-semi-space-size=64');
});

test.run();

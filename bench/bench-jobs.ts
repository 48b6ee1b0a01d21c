/*
 * Wall time of a small synthetic benchmark run with `--jobs 1` and `--jobs 2` (worker processes), and
 * their ratio: `npm run bench -- --only bench_jobs`, or directly `node --import tsx bench/bench-jobs.ts
 * [--reps 2] [--finetune-steps 40]`.
 * Both settings run the same runs into fresh directories: the quick preset's rows `random` and `scratch`
 * at seeds 1 and 2, each read out by a probe (16 labelled crops) and by finetuning (all labels). A
 * `random` run pretrains and then does both readouts; `scratch` has nothing to share between its
 * readouts and is split into one run per readout, so 6 runs: 2 long and 4 short, which 2 workers can
 * share evenly (longest first). The row lists them with their scheduling cost and says whether every
 * run's scores and loss curves came out identical. Each worker pays its own start (module loading,
 * first-run warm-up, a few seconds), so on a machine with 2 free cores the ratio is 0.5 plus that
 * start over the serial time; with other work on the machine it says little (see load_avg_1min).
 * Workers are forked before the parent loads and checks the split, load theirs meanwhile, and the
 * parent computes the learning-free control while they run (jobs.ts), so the parent's serial work is
 * no longer added to either setting; what remains is each worker's own start: importing the modules
 * (~2.2 s CPU under tsx, ~1.7 s from dist/) and the first run's warm-up (~2.5 s: V8 compiling and
 * tiering up the JS and wasm code of a finetuning step, prediction and segmentation), paid by every
 * worker, at once when two start together.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/core/backend.js';
import { runBenchmark, runSpecs, type BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import { runCost } from '../src/tasks/benchmark/jobs.js';

interface BenchJobsOptions {
  /** Finetuning steps per run (the largest part of a run). Default 40. */
  finetuneSteps?: number;
  /**
   * Timings of each setting, alternated (1, 2, 2, 1, ...); the best of each is reported, since the
   * machine may be shared. Default 2.
   */
  reps?: number;
}

const config = (finetuneSteps: number): BenchmarkOptions['config'] => ({
  data: { syntheticShape: [16, 64, 64] },
  // the quick preset's 4 x 128 x 128 crop does not fit these 64 x 64 sections
  model: { preset: 'tiny', crop: [4, 64, 64] },
  env: { numEnvs: 2, horizon: 4 },
  ppo: { rolloutSteps: 4 },
  train: { phase1Steps: 16, phase2Steps: 8, checkpointEvery: 0 },
  finetune: { steps: finetuneSteps, batchSize: 1, validEvery: 0 },
});

/** Rows for bench/run.ts. */
export async function benchJobs(opts: BenchJobsOptions = {}): Promise<object[]> {
  const finetuneSteps = opts.finetuneSteps ?? 40;
  const reps = opts.reps ?? 2;
  const walls: Record<number, number[]> = { 1: [], 2: [] };
  const loads: number[] = [];
  const scores: Record<number, string> = {};
  const options = (outDir: string, jobs: number): BenchmarkOptions => ({
    preset: 'quick',
    data: null,
    outDir,
    policies: ['random'],
    seeds: [1, 2],
    jobs,
    config: config(finetuneSteps),
  });
  const specs = runSpecs(options('', 1));
  const order = Array.from({ length: reps }, (_, r) => (r % 2 === 0 ? [1, 2] : [2, 1])).flat();
  for (const jobs of order) {
    const out = mkdtempSync(join(tmpdir(), `dbmim-bench-jobs${jobs}-`));
    try {
      const t0 = performance.now();
      const { results } = await runBenchmark(options(out, jobs));
      walls[jobs]!.push((performance.now() - t0) / 1000);
      loads.push(loadavg()[0]!);
      // a timing of runs that failed would measure nothing
      if (results.failed?.length)
        throw new Error(`bench_jobs: runs failed at --jobs ${jobs}: ${JSON.stringify(results.failed)}`);
      // Scores and the loss curves (tiny runs may score alike; their curves differ by seed).
      const got = JSON.stringify(
        results.runs.map((r) => [
          r.pretrain?.mimLoss,
          r.evaluations.map((e) => [e.perThreshold, e.finetune.trainLoss]),
        ]),
      );
      if (scores[jobs] !== undefined && scores[jobs] !== got)
        throw new Error(`bench_jobs: two runs at --jobs ${jobs} gave different results`);
      scores[jobs] = got;
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  const best = (jobs: number) => Math.min(...walls[jobs]!);
  return [
    {
      name: 'bench_jobs',
      runs: specs.length,
      run_costs: Object.fromEntries(
        specs.map((r) => [`${r.policy}-s${r.seed}${r.part ? `/${r.part}` : ''}`, runCost(r)]),
      ),
      finetune_steps: finetuneSteps,
      jobs1_s: +best(1).toFixed(1),
      jobs2_s: +best(2).toFixed(1),
      ratio: +(best(2) / best(1)).toFixed(3),
      jobs1_s_each: walls[1]!.map((w) => +w.toFixed(1)),
      jobs2_s_each: walls[2]!.map((w) => +w.toFixed(1)),
      identical_results: scores[1] === scores[2],
      cores: availableParallelism(),
      // after each timing: a 1-minute load above ~1 means other work shared the cores
      load_avg_1min: loads.map((l) => +l.toFixed(2)),
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const backend = await selectBackend();
  const rows = await benchJobs({ finetuneSteps: arg('--finetune-steps'), reps: arg('--reps') });
  for (const r of rows) console.log(JSON.stringify({ backend: backend.name, ...r }));
}

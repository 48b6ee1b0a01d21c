/*
 * Wall time of a small synthetic benchmark run with `--jobs 1` and `--jobs 2` (worker processes), their
 * ratio, and the CPU seconds of each setting: `npm run bench -- --only bench_jobs`, or directly
 * `node --import tsx bench/bench-jobs.ts [--reps 2] [--finetune-steps 40,400,1200]`.
 * It runs the built modules (dist/, `npm run build` first; an older build is an error), as the CLI does:
 * the workers are dist/'s run-child.js under plain Node. Until 2026-11-30 it ran the sources, and so
 * its workers under tsx, whose loader added over a second to each worker's start.
 * Both settings run the same runs into fresh directories: the quick preset's rows `random` and `scratch`
 * at seeds 1 and 2 (tiny model, a 16x64x64 synthetic volume), each read out by a probe (16 labelled
 * crops) and by finetuning (all labels). A `random` run pretrains (24 MIM updates) and then does both
 * readouts; `scratch` is split into one run per readout, so 6 runs: 2 long and 4 short, handed out
 * longest first. One row per finetuning-steps setting: 40 (the config first quoted: the runs are
 * short, a worker's start weighs most), 400 (the quick preset's finetuning length until issue 11) and
 * 1,200 (its length since, at these smaller crops: ~3 min at `--jobs 1`). Each row says whether every
 * run's scores and loss curves came out identical, and for each timing the CPU seconds (user +
 * system) of the parent, of the workers (all threads: reaped children, /proc), and of the workers'
 * threads other than their main threads (sampled every 250 ms).
 * `cpu_floor_ratio`: `--jobs 2`'s CPU over 2 cores, against `--jobs 1`'s worker main thread, is the
 * wall ratio 2 free cores would give at best; read it when the machine is shared.
 *
 * Where the time goes (2026-11-30, 05:35-06:45 UTC, the 2-core machine, load 2.5-7.5 from other sessions;
 * see the README): `--jobs 1` is one worker process and keeps more than one core busy: a seventh (400
 * steps) to two fifths (1 step) of its worker's CPU is on V8's other threads (mostly the optimizing
 * compiler, `perf` at 40 steps: 71 % of those samples; GC 13 %), which at `--jobs 1` run on the otherwise
 * idle second core, as does the parent's split loading and learning-free control. So `--jobs 1`'s wall
 * time is about its worker's main-thread CPU, while `--jobs 2`'s is at least all the CPU of both workers
 * and the parent over 2 cores. A second worker repeats the per-process part: 6-8 s CPU at 1-3 finetuning
 * steps a run (module loading and its first runs' warm-up on the main thread, 3-4 s; the compiler on the
 * others, 4 s). The runs' own work is not slowed much by sharing the machine (the same in-process run
 * alone and two at once: 38.6 s against 39.2 / 40.3 s CPU at 160 steps), and V8's threads do not spin
 * (their CPU per worker is the same at `--jobs 1` and `--jobs 2`). So the ratio falls as the runs get
 * longer: at 40 steps a run `--jobs 2` needs 1.3-1.5x the CPU of `--jobs 1` and cannot approach 0.6; at
 * 400 one run of three took the same CPU in both settings (floor 0.59), the other two 1.3x (floor
 * 0.77-0.80): CPU time itself grows when a third busy process shares the 2 cores. Cut here: the wasm loop
 * generators (convFunc, wgradFunc) no longer get compiled by V8 (1.2 s of compiler CPU per process on this
 * config), and a probe step counts 0.4 of a finetuning step in the dispatch order, which had given one
 * lane both scratch finetunes (lanes 7 s apart at 160 steps). A 64 MB young generation, which a
 * timing under load had shown no better, was measured again on a quiet machine (2026-11-30 08:00-09:00
 * UTC): the workers now get it (jobs.ts, WORKER_SEMI_SPACE_MB).
 * What is left, quiet, at 400 steps: a worker's other threads take 15 % of its main thread's CPU
 * (`perf`: compiler ~55 %, GC ~25 %, all through the run, not only at its start: each run type's
 * first run and deopts compile anew), and a second worker adds its own start and compiles, so
 * `--jobs 2` does ~1.12x the CPU of `--jobs 1` (cpu_ratio), over 2 cores: about 0.56 of its wall time
 * before anything else; the same runs' main-thread CPU also varies by up to 25 % between
 * timings on this 2-vCPU VM, at either setting. At 1,200 steps, 17 quiet pairs (2026-11-30): geometric
 * mean 0.588, 95 % interval 0.551-0.626; a pair's spread (sd of its log, 0.12) is that drift, and the
 * CPU columns put the ratio at equal main-thread CPU at 0.56 (README, "Performance").
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as BackendModule from '../src/core/backend.js';
import type * as BenchmarkModule from '../src/tasks/benchmark/benchmark.js';
import type { BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import type * as JobsModule from '../src/tasks/benchmark/jobs.js';
import type * as PairedStatsModule from '../src/tasks/benchmark/paired-stats.js';
import type * as RunSpecModule from '../src/tasks/benchmark/run-spec.js';
import { staleBuild } from '../scripts/stale-build.js';
import { cpuMs } from './clock.js';

interface BenchJobsOptions {
  /**
   * Finetuning steps per run (the largest part of a run), one row each. Default [40, 400, 1200]: 40 is
   * the config the ratio was first quoted at, where each worker's start is a third of its lane; 400 and
   * 1,200 are the quick preset's finetuning length before and since issue 11.
   */
  finetuneSteps?: number[];
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

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The built modules (dist/), what `dbmim bench` runs: its workers then run dist/'s run-child.js under
 * plain Node, not the sources under tsx (whose loader adds seconds to each worker's start).
 */
async function builtModules() {
  const stale = staleBuild(ROOT);
  if (stale.length)
    throw new Error(
      `bench_jobs measures the built CLI: run \`npm run build\` first (${stale.length} source files are newer than dist/, e.g. ${stale[0]})`,
    );
  const load = (path: string) => import(new URL(`../dist/${path}`, import.meta.url).href);
  return {
    backend: (await load('core/backend.js')) as typeof BackendModule,
    benchmark: (await load('tasks/benchmark/benchmark.js')) as typeof BenchmarkModule,
    jobs: (await load('tasks/benchmark/jobs.js')) as typeof JobsModule,
    pairedStats: (await load('tasks/benchmark/paired-stats.js')) as typeof PairedStatsModule,
    runSpec: (await load('tasks/benchmark/run-spec.js')) as typeof RunSpecModule,
  };
}

/** Clock ticks a second of /proc's CPU times (USER_HZ: 100 on every Linux port Node supports). */
const USER_HZ = 100;
/** How often the worker processes' threads are sampled (ms): their last interval before exit is missed. */
const SAMPLE_EVERY_MS = 250;

/** utime + stime (s) in a /proc stat line, and the fields after the command name. */
function statCpu(line: string, utimeField = 11): number {
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[utimeField]) + Number(fields[utimeField + 1])) / USER_HZ;
}

const readOrNull = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process or thread has just exited
  }
};

/**
 * CPU seconds (user + system) of this process's exited, reaped children (/proc/self/stat: cutime +
 * cstime), or null where /proc is missing. runBenchmark returns only after its workers have exited.
 */
function childrenCpuSeconds(): number | null {
  const stat = readOrNull('/proc/self/stat');
  return stat === null ? null : statCpu(stat, 13); // fields 16 and 17 of proc(5)
}

/**
 * Per-thread CPU of this process's child processes (the workers), sampled from /proc while they run:
 * each worker's main thread (the runs' JS and wasm) apart from its other threads (V8's optimizing
 * compiler and GC helpers, and libuv's pool). Null where /proc has no children lists.
 */
function startThreadSampler(): { stop: () => { main: number[]; background: number } } | null {
  if (!existsSync(`/proc/self/task/${process.pid}/children`)) return null;
  const seen = new Map<number, Map<number, number>>(); // pid -> tid -> CPU seconds
  const sample = () => {
    for (const tid of readdirSync('/proc/self/task')) {
      for (const pid of (readOrNull(`/proc/self/task/${tid}/children`) ?? '').split(/\s+/).filter(Boolean)) {
        // only the benchmark's workers (under tsx, its esbuild service is a child too)
        if (!seen.has(Number(pid)) && !readOrNull(`/proc/${pid}/cmdline`)?.includes('run-child')) continue;
        const threads = seen.get(Number(pid)) ?? new Map<number, number>();
        seen.set(Number(pid), threads);
        for (const t of readdirSync(`/proc/${pid}/task`).map(Number)) {
          const line = readOrNull(`/proc/${pid}/task/${t}/stat`);
          if (line !== null) threads.set(t, Math.max(threads.get(t) ?? 0, statCpu(line)));
        }
      }
    }
  };
  const timer = setInterval(() => {
    try {
      sample();
    } catch {
      // a worker exited between listing and reading
    }
  }, SAMPLE_EVERY_MS);
  return {
    stop: () => {
      clearInterval(timer);
      const main = [...seen].map(([pid, threads]) => threads.get(pid) ?? 0);
      const all = [...seen.values()].flatMap((threads) => [...threads.values()]);
      return { main, background: all.reduce((a, b) => a + b, 0) - main.reduce((a, b) => a + b, 0) };
    },
  };
}

const round1 = (x: number) => +x.toFixed(1);

/** One timing's CPU seconds: parent, workers (all threads, exact), and the workers' split (sampled). */
interface TimingCpu {
  parent: number;
  workers: number | null;
  /** The workers' threads other than their main threads (sampled, so a lower bound). */
  workers_background: number | null;
  /** Each worker's main thread (sampled). */
  workers_main: number[] | null;
}

/** Rows for bench/run.ts: one per finetuning-steps setting. */
export async function benchJobs(opts: BenchJobsOptions = {}): Promise<object[]> {
  const built = await builtModules();
  const rows: object[] = [];
  for (const steps of opts.finetuneSteps ?? [40, 400, 1200])
    rows.push(await benchJobsAt(built, steps, opts.reps ?? 2));
  return rows;
}

async function benchJobsAt(
  built: Awaited<ReturnType<typeof builtModules>>,
  finetuneSteps: number,
  reps: number,
): Promise<object> {
  // the built modules' own backend state (this process's src/ copy is another module instance)
  const backend = await built.backend.selectBackend();
  const walls: Record<number, number[]> = { 1: [], 2: [] };
  const cpu: Record<number, TimingCpu[]> = { 1: [], 2: [] };
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
  const specs = built.benchmark.runSpecs(options('', 1));
  const order = Array.from({ length: reps }, (_, r) => (r % 2 === 0 ? [1, 2] : [2, 1])).flat();
  for (const jobs of order) {
    const out = mkdtempSync(join(tmpdir(), `dbmim-bench-jobs${jobs}-`));
    try {
      const children0 = childrenCpuSeconds();
      const sampler = startThreadSampler();
      const cpu0 = cpuMs();
      const t0 = performance.now();
      const { results } = await built.benchmark.runBenchmark(options(out, jobs));
      walls[jobs]!.push((performance.now() - t0) / 1000);
      const parent = (cpuMs() - cpu0) / 1000;
      const threads = sampler?.stop() ?? null;
      const children1 = childrenCpuSeconds();
      cpu[jobs]!.push({
        parent: round1(parent),
        workers: children0 === null || children1 === null ? null : round1(children1 - children0),
        workers_background: threads && round1(threads.background),
        workers_main: threads && threads.main.map(round1),
      });
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
  // least total CPU of a setting (parent + workers): the work it did, whatever else the machine ran
  const leastCpu = (jobs: number) =>
    Math.min(...cpu[jobs]!.map((c) => (c.workers === null ? NaN : c.parent + c.workers)));
  // --jobs 1's critical path: its worker's main thread (the parent's work and the worker's other
  // threads run on the second core meanwhile)
  const leastMain1 = Math.min(...cpu[1]!.map((c) => (c.workers_main ? c.workers_main[0]! : NaN)));
  const cores = availableParallelism();
  return {
    name: 'bench_jobs',
    code: 'dist',
    runs: specs.length,
    run_costs: Object.fromEntries(
      specs.map((r) => [built.runSpec.runLabel(r), round1(built.jobs.runCost(r))]),
    ),
    finetune_steps: finetuneSteps,
    jobs1_s: +best(1).toFixed(1),
    jobs2_s: +best(2).toFixed(1),
    ratio: +(best(2) / best(1)).toFixed(3),
    // each rep's two timings ran one after the other: their ratio, and over the reps the geometric mean
    // ratio with its 95 % t interval (the paired interval of log wall times); this machine's wall times
    // move by up to 25 % from one timing to the next, so best-of-each alone can mislead
    ratio_each: walls[2]!.map((w, r) => +(w / walls[1]![r]!).toFixed(3)),
    ratio_geomean_ci95: pairedRatio(built.pairedStats, walls[2]!, walls[1]!),
    jobs1_s_each: walls[1]!.map((w) => +w.toFixed(1)),
    jobs2_s_each: walls[2]!.map((w) => +w.toFixed(1)),
    jobs1_cpu_s_each: cpu[1],
    jobs2_cpu_s_each: cpu[2],
    // CPU of --jobs 2 over --jobs 1: above 1 by the work a second process repeats (its start)
    cpu_ratio: +(leastCpu(2) / leastCpu(1)).toFixed(3),
    // the best wall ratio free cores allow: all of --jobs 2's CPU spread evenly over 2 cores, against
    // --jobs 1's worker main thread; the load-independent figure to read when the machine is shared
    cpu_floor_ratio: +(leastCpu(2) / Math.min(cores, 2) / leastMain1).toFixed(3),
    identical_results: scores[1] === scores[2],
    backend: backend.name,
    cores,
    // after each timing: a 1-minute load above ~1 means other work shared the cores
    load_avg_1min: loads.map((l) => +l.toFixed(2)),
  };
}

/** Geometric mean of `a[r] / b[r]` over the reps and its 95 % t interval, or null under 2 reps. */
function pairedRatio(
  stats: typeof PairedStatsModule,
  a: number[],
  b: number[],
): [number, number, number] | null {
  const logs = (w: number[]) => new Map(w.map((x, r) => [r, Math.log(x)]));
  const d = stats.pairedDifference(logs(a), logs(b));
  if (!d.interval) return null;
  const r3 = (x: number) => +Math.exp(x).toFixed(3);
  return [r3(d.interval[0]), r3(d.mean), r3(d.interval[1])];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1]!.split(',').map(Number) : undefined;
  };
  const rows = await benchJobs({ finetuneSteps: arg('--finetune-steps'), reps: arg('--reps')?.[0] });
  for (const r of rows) console.log(JSON.stringify(r));
}

import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism, freemem } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { describeRecord, runLabel, type RunOutcome, type RunSpec, type RunStage } from './run-spec.js';
import type { RunRecord } from './results.js';

/*
 * `dbmim bench --jobs N`: the runs of a benchmark in N worker processes. A worker (the child entry
 * run-child.ts) receives one run's spec at a time (its resolved config, as JSON), executes it with the
 * same code as an in-process run, writes its result.json and sends the record back. A run's numbers
 * depend only on its spec (every random draw comes from its seed), not on the runs before it in the same
 * process, so they are the same whatever N; a worker that dies takes only its current run with it and is
 * replaced for the runs still waiting.
 * Workers are started ({@link startWorkers}) before the parent's own serial work (loading the split,
 * checking it, the learning-free control) and get ready meanwhile (backend, plugins, the data split), so
 * that their start-up overlaps that work instead of following it.
 */

/**
 * Memory to budget for one run's process: headroom over the ~0.6 GB RSS seen for a worker running the
 * tests' tiny synthetic runs (larger models and crops take more; pass --jobs to override).
 */
export const RUN_MEMORY_BYTES = 1.5 * 2 ** 30;
/** While runs are active, repeat the line of active runs at least this often (seconds). */
const STATUS_EVERY_S = 15;
/** Lines of a dead worker's stderr quoted in its run's error. */
const STDERR_TAIL_LINES = 5;
/** A closed worker that has not exited after this many seconds is killed (it should exit at once). */
const EXIT_GRACE_S = 10;

/** Default `--jobs`: one per core, capped by free memory (at least 1). */
export function defaultJobs(): number {
  return Math.max(1, Math.min(availableParallelism(), Math.floor(freemem() / RUN_MEMORY_BYTES)));
}

/**
 * A probe step's cost in finetuning steps: the encoder is frozen, so there is no backward pass through
 * it and no update of it. Measured on the bench_jobs config (160 steps, main-thread CPU): 1.7-1.9 s a
 * probe against 4.2-5.4 s a finetune. Counted as one, the scratch probes and finetunes tied, and at
 * `--jobs 2` one lane drew both probes and the other both finetunes.
 */
const PROBE_STEP_COST = 0.4;

/**
 * A run's rough cost for scheduling, in finetuning steps: each evaluation's steps (a probe's weighted by
 * PROBE_STEP_COST), plus the pretraining updates (phase 1 and 2) of a run that pretrains. On the
 * bench_jobs config a pretraining update cost about as much as a finetuning step (24 updates ~1.2 s,
 * 40 steps ~3.5 s), so both count as one.
 */
export function runCost(spec: RunSpec): number {
  const t = spec.config.train;
  const pretrain = spec.pretrainAgent === null ? 0 : t.phase1Steps + t.phase2Steps;
  const steps = spec.config.finetune.steps;
  const evaluations = spec.evaluations.map((e) => (e.readout === 'probe' ? PROBE_STEP_COST : 1) * steps);
  return pretrain + evaluations.reduce((a, b) => a + b, 0);
}

/**
 * The order runs are handed to workers: longest first (stable among equals). With runs of unequal
 * length, the short ones then fill in at the end instead of a long one starting last and running alone
 * (seed-major order put each seed's pretraining run after the previous seed's short parts).
 */
export function dispatchOrder(todo: RunSpec[]): number[] {
  const cost = todo.map(runCost);
  return todo.map((_, i) => i).sort((a, b) => cost[b]! - cost[a]! || a - b);
}

/** Parent -> child: the one run the child executes. */
export interface ChildRequest {
  spec: RunSpec;
  /** Directory `spec.dir` is relative to. */
  root: string;
  /** Backend name the parent runs on (the child selects the same). */
  backend: string;
  /** Modules to import before the run (plugins registering agents etc.). */
  preload: string[];
}

/** Parent -> child, first: get ready for runs on this data split (see {@link startWorkers}). */
export interface ChildPrepare {
  /** The runs' split config (`RunSpec.splitConfig`): the child loads that split before any run. */
  splitConfig: Config;
  backend: string;
  preload: string[];
}

/** Child -> parent. */
export type ChildMessage =
  | { type: 'log'; line: string }
  | { type: 'progress'; stage: RunStage; step: number; total: number }
  | { type: 'done'; record: RunRecord }
  | { type: 'error'; message: string };

/** What a worker process needs besides the runs. */
export interface WorkerProcessOptions {
  /** Directory the runs' `dir` is relative to. */
  root: string;
  /** Backend name the worker selects. */
  backend: string;
  /** Modules the worker imports before its first run. */
  preload: string[];
  log: (line: string) => void;
}

/** Options of {@link runInProcesses}. */
export interface ProcessPoolOptions extends WorkerProcessOptions {
  /** Worker processes at a time. */
  jobs: number;
  /** Workers already started ({@link startWorkers}), used first; the others are forked when needed. */
  workers?: WorkerProcess[];
}

function checkJobs(jobs: number): void {
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new ConfigError(`jobs: expected a positive integer, got ${jobs}`);
}

/**
 * Fork the worker processes for `todo` now (at most `jobs`, no more than there are runs) and have each
 * get ready for its runs: select the backend, load the plugins and the runs' data split. Module
 * loading and the split take a worker seconds; started before the parent's own serial work, they
 * overlap it. Pass the workers to {@link runInProcesses}, which closes them; close them yourself if
 * you do not get that far.
 */
export function startWorkers(todo: RunSpec[], opts: ProcessPoolOptions): WorkerProcess[] {
  checkJobs(opts.jobs);
  const workers = Array.from({ length: Math.min(opts.jobs, todo.length) }, () => new WorkerProcess(opts));
  for (const w of workers) w.prepare(todo[0]!.splitConfig);
  return workers;
}

/** The child entry, next to this file (run-child.ts under tsx, run-child.js when built). */
const CHILD_ENTRY = fileURLToPath(
  new URL(`./run-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/** Where an active run is. */
export interface Activity {
  stage: RunStage | 'start';
  step: number;
  total: number;
}

function describe(name: string, a: Activity): string {
  return a.total > 0 ? `${name} ${a.stage} ${a.step}/${a.total}` : `${name} ${a.stage}`;
}

/**
 * Execute `todo` in `jobs` worker processes, longest first ({@link dispatchOrder}); outcomes in the order
 * of `todo`, once every worker process has exited (none outlives the call, and their CPU time is then
 * counted in this process's children's). A run whose process dies or raises is an `{ error }` outcome;
 * the others are unaffected (a dead worker is replaced).
 */
export async function runInProcesses(todo: RunSpec[], opts: ProcessPoolOptions): Promise<RunOutcome[]> {
  checkJobs(opts.jobs);
  const started = [...(opts.workers ?? [])];
  const closing: Promise<void>[] = [];
  const outcomes: RunOutcome[] = new Array<RunOutcome>(todo.length);
  const order = dispatchOrder(todo);
  const active = new Map<string, Activity>();
  const t0 = performance.now();
  let next = 0;
  let ended = 0;
  const status = () => {
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    const list = [...active].map(([n, a]) => describe(n, a)).join(', ');
    opts.log(`  [${ended}/${todo.length} ended, ${secs} s] active: ${list || 'none'}`);
  };
  const timer = setInterval(status, STATUS_EVERY_S * 1000);
  timer.unref();

  // Each lane owns one worker process and feeds it the next run until none is left.
  const lane = async () => {
    let worker: WorkerProcess | null = started.shift() ?? null;
    try {
      while (next < todo.length) {
        const k = order[next++]!;
        const spec = todo[k]!;
        const name = runLabel(spec);
        if (worker && !worker.alive) worker = null; // a started worker that died before its first run
        worker ??= new WorkerProcess(opts);
        closing.push(worker.exited); // a replaced (dead) worker's has settled
        active.set(name, { stage: 'start', step: 0, total: 0 });
        opts.log(`  ${name}: started in worker process ${worker.pid}`);
        outcomes[k] = await worker.run(spec, (a) => {
          const before = active.get(name);
          active.set(name, a);
          if (before?.stage !== a.stage) status();
        });
        if (!worker.alive) worker = null;
        active.delete(name);
        ended++;
        const o = outcomes[k];
        opts.log('record' in o ? `  ${name}: ${describeRecord(o.record)}` : `  ${name}: failed: ${o.error}`);
        status();
      }
    } finally {
      if (worker) closing.push(worker.close());
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.jobs, todo.length) }, lane));
  } finally {
    clearInterval(timer);
    for (const w of started) closing.push(w.close()); // more started than lanes ran
    await Promise.all(closing);
  }
  return outcomes;
}

/**
 * A worker's young generation (V8 semi-space, MB): 4x Node's default of 16. The tfjs engine allocates
 * ~5 MB of short-lived objects a finetuning step (a Tensor, its bookkeeping and its tape entry per
 * kernel), so at 16 MB the worker scavenged every 2-3 steps, each time copying the step's live tensors;
 * at 64 MB a quarter as often. Measured (tiny model, 4x64x64 crops, 200 steps after 100, 3 runs each,
 * 2026-11-30): V8's helper threads 2.2-2.5 ms of CPU a step against 3.2-4.2. At `--jobs 1` those threads
 * use the idle second core, at `--jobs 2` the workers' own time. Peak RSS of `npm start`: +130 MB.
 */
const WORKER_SEMI_SPACE_MB = 64;

/**
 * Node options of a worker: the parent's (a user's V8 flags apply to the runs too), tsx's loader when
 * the entry is TypeScript and the parent does not have it, and {@link WORKER_SEMI_SPACE_MB} unless the
 * user sets the young generation, on the parent's command line or in `NODE_OPTIONS` (which workers
 * inherit, and which a command-line flag would override).
 */
export function workerExecArgv(
  parent: readonly string[],
  entry: string,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const argv = [...parent];
  if (entry.endsWith('.ts') && !parent.some((a) => a.includes('tsx'))) argv.push('--import', 'tsx');
  const setsYoung = (a: string) => /^--(max|min)[-_]semi[-_]space[-_]size/.test(a);
  if (!parent.some(setsYoung) && !nodeOptions.split(/\s+/).some(setsYoung))
    argv.push(`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`);
  return argv;
}

/** A forked worker process that executes runs one at a time (run-child.ts). */
export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly stderrTail: string[] = [];
  private current: {
    onMessage: (m: ChildMessage) => void;
    onExit: (how: string) => void;
  } | null = null;
  alive = true;
  /** Settles once the process has exited. */
  readonly exited: Promise<void>;

  constructor(private readonly opts: WorkerProcessOptions) {
    const execArgv = workerExecArgv(process.execArgv, CHILD_ENTRY);
    this.child = fork(CHILD_ENTRY, [], {
      execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child.stdout!.on('data', (c: Buffer) => this.forward(c, false));
    this.child.stderr!.on('data', (c: Buffer) => this.forward(c, true));
    this.child.on('message', (m: ChildMessage) => this.current?.onMessage(m));
    this.child.on('close', (code, signal) =>
      this.ended(signal ? `was killed by ${signal}` : `exited with code ${code}`),
    );
    // 'exit', not 'close': once this side has disconnected, Node 20 emits no 'close' for the child
    this.exited = new Promise((resolve) => {
      this.child.on('exit', () => resolve());
      this.child.on('error', (e) => {
        this.ended(`failed: ${e.message}`);
        if (this.child.pid === undefined) resolve(); // never started: no 'close' follows
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Execute one run; resolves (never rejects) with its outcome. */
  run(spec: RunSpec, onActivity: (a: Activity) => void): Promise<RunOutcome> {
    let stage: Activity['stage'] = 'start';
    return new Promise((resolve) => {
      this.current = {
        onMessage: (m) => {
          if (m.type === 'log') this.opts.log(m.line);
          else if (m.type === 'progress') {
            stage = m.stage;
            onActivity({ stage: m.stage, step: m.step, total: m.total });
          } else {
            this.current = null;
            resolve(m.type === 'done' ? { record: m.record } : { error: m.message });
          }
        },
        onExit: (how) => {
          const tail = this.stderrTail.length ? `: ${this.stderrTail.join(' | ')}` : '';
          resolve({ error: `worker process ${this.pid} ${how} during ${stage}${tail}` });
        },
      };
      const req: ChildRequest = {
        spec,
        root: this.opts.root,
        backend: this.opts.backend,
        preload: this.opts.preload,
      };
      if (!this.alive || !this.child.send(req)) this.current.onExit('could not take the run');
    });
  }

  /** Have the worker get ready for runs on this split (backend, plugins, the split loaded) before its first. */
  prepare(splitConfig: Config): void {
    const m: ChildPrepare = { splitConfig, backend: this.opts.backend, preload: this.opts.preload };
    if (this.alive) this.child.send(m);
  }

  /**
   * Let the worker exit (it does once its IPC channel closes); resolves when it has, killing it if it
   * has not after {@link EXIT_GRACE_S}.
   */
  close(): Promise<void> {
    if (this.alive && this.child.connected) this.child.disconnect();
    if (!this.alive) return this.exited;
    const timer = setTimeout(() => this.kill(), EXIT_GRACE_S * 1000);
    timer.unref();
    return this.exited.finally(() => clearTimeout(timer));
  }

  /** Stop the worker now; its current run ends as an error. */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  private ended(how: string): void {
    if (!this.alive) return;
    this.alive = false;
    const c = this.current;
    this.current = null;
    c?.onExit(how);
  }

  private forward(chunk: Buffer, keep: boolean): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      this.opts.log(`  [worker ${this.pid}] ${line}`);
      if (keep) {
        this.stderrTail.push(line.trim());
        this.stderrTail.splice(0, this.stderrTail.length - STDERR_TAIL_LINES);
      }
    }
  }
}

import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { ConfigError, DbmimError, InputError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { VERSION } from '../../version.js';
import { describeRecord, finishedRun, runFiles, runName, type RunOutcome, type RunSpec } from './run-spec.js';
import { WorkerProcess, type Activity } from './jobs.js';

/*
 * The benchmark on a Redis job queue (BullMQ): a coordinator (`dbmim bench --queue URL --store DIR`)
 * enqueues every run without a result, one job per run with the id a hash of the run's resolved config
 * (so enqueuing twice, or a restarted coordinator, adds nothing); workers (`dbmim worker`) on any machine
 * take jobs and execute each run in a worker process exactly as `bench --jobs` does. Runs write under the
 * shared store; the coordinator waits, then writes results.json and the report as a local benchmark does.
 * Faults use BullMQ's own mechanisms: a killed worker's job lock expires and the job is retried by another
 * worker (stalled-job recovery); a run that raises twice is failed with its error text.
 */

/** The BullMQ queue every coordinator and worker uses (Redis keys `bull:dbmim-runs:*`). */
export const QUEUE_NAME = 'dbmim-runs';
/** Attempts of a run that raises before it is marked failed. */
export const RUN_ATTEMPTS = 2;
/** Wait before the second attempt of a run that raised (ms). */
const RETRY_DELAY_MS = 2000;
/** Default job lock: a killed worker's run is retried by another worker after about this long (ms). */
export const DEFAULT_LOCK_MS = 30_000;
/** Times a run may be recovered from a dead worker before it is failed. */
const MAX_STALLS = 2;
/** The coordinator polls its jobs' states this often (ms). */
const POLL_MS = 1000;
/** ... and repeats the progress line at least this often while nothing changes (ms). */
const STATUS_EVERY_MS = 15_000;
/** A worker reports a run's step progress to Redis at most this often (ms; stage changes always). */
const PROGRESS_EVERY_MS = 2000;
/** Time to reach Redis before the connection check gives up (ms). */
const CONNECT_TIMEOUT_MS = 5000;

/** A Redis server and database from `redis://HOST:PORT[/DB]`. */
export interface RedisTarget {
  url: string;
  host: string;
  port: number;
  db: number;
}

/** Parse `redis://HOST:PORT[/DB]` (port 6379, db 0 by default), naming `option` on error. */
export function parseQueueUrl(url: string, option = '--queue'): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`${option}: expected redis://HOST:PORT[/DB], got '${url}'`);
  }
  if (u.protocol !== 'redis:')
    throw new ConfigError(
      `${option}: unsupported scheme '${u.protocol.replace(/:$/, '')}' in '${url}' (expected redis://HOST:PORT[/DB])`,
    );
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!u.hostname || !Number.isInteger(db) || db < 0)
    throw new ConfigError(`${option}: expected redis://HOST:PORT[/DB], got '${url}'`);
  return { url, host: u.hostname.replace(/^\[|\]$/g, ''), port, db };
}

/** ioredis options of a BullMQ connection (workers need maxRetriesPerRequest null). */
function connectionOf(t: RedisTarget) {
  return { host: t.host, port: t.port, db: t.db, maxRetriesPerRequest: null };
}

/** Fail with one clear line when Redis cannot be reached (no endless reconnecting). */
export async function checkRedis(t: RedisTarget): Promise<void> {
  const client = new Redis({
    host: t.host,
    port: t.port,
    db: t.db,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The socket error says why (ECONNREFUSED, ENOTFOUND); the rejection only that the connection closed.
  let cause = null as Error | null;
  client.on('error', (e: Error) => (cause ??= e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const why = cause?.message ?? (e instanceof Error ? e.message : String(e));
    throw new DbmimError(`cannot reach Redis at ${t.url}: ${why}`, 'queue');
  } finally {
    client.disconnect();
  }
}

/** The store as an absolute path, created if missing; one clear error when it is not a writable directory. */
export function checkStore(dir: string, option = '--store'): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    if (!statSync(abs).isDirectory()) throw new InputError('not a directory');
    accessSync(abs, constants.W_OK);
    const probe = join(abs, `.dbmim-probe-${hostname()}-${process.pid}`);
    writeFileAtomic(probe, 'ok');
    rmSync(probe, { force: true });
  } catch (e) {
    throw new InputError(
      `${option} ${dir}: not a writable directory (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  return abs;
}

/**
 * A run's job id: a hash of its row, pretraining agent, resolved config, data split and evaluations. The
 * same run, the same id.
 */
export function jobIdOf(spec: RunSpec): string {
  const h = createHash('sha256');
  const { dir: _dir, ...run } = spec;
  h.update(JSON.stringify(run));
  return `run-${h.digest('hex').slice(0, 32)}`;
}

/** A run's directory in the store: its name and config hash (two sweeps never share one). */
function storeDir(spec: RunSpec): string {
  return join('runs', `${runName(spec.policy, spec.seed)}-${jobIdOf(spec).slice(4, 16)}`);
}

/** What a job carries: the run, and who enqueued it (a worker refuses a job for another version). */
export interface RunJobData {
  spec: RunSpec;
  dbmim: string;
  backend: string;
}

/** A job's progress as a worker reports it. */
export interface RunJobProgress {
  stage: Activity['stage'];
  step: number;
  total: number;
  worker: string;
}

/** Options of {@link runOnQueue}. */
export interface QueueCoordinatorOptions {
  target: RedisTarget;
  /** The shared store, absolute (see checkStore). */
  store: string;
  /** The benchmark's output directory: finished runs are copied to `<outDir>/<spec.dir>`. */
  outDir: string;
  backend: string;
  log: (line: string) => void;
}

function describeJob(name: string, p: RunJobProgress | undefined): string {
  if (!p) return name;
  const step = p.total > 0 ? ` ${p.step}/${p.total}` : '';
  return `${name} ${p.stage}${step} on ${p.worker}`;
}

/**
 * Enqueue `todo` (runs already finished in the store are only copied back), wait until every job has
 * completed or failed, and return the outcomes in the order of `todo`. Each finished run's result.json
 * and segmentation previews are copied from the store to `outDir/<spec.dir>`.
 */
export async function runOnQueue(todo: RunSpec[], opts: QueueCoordinatorOptions): Promise<RunOutcome[]> {
  await checkRedis(opts.target);
  const queue = new Queue<RunJobData>(QUEUE_NAME, { connection: connectionOf(opts.target) });
  queue.on('error', () => undefined); // reconnects; the polling below reports what matters
  try {
    const outcomes: (RunOutcome | null)[] = todo.map(() => null);
    const ids = todo.map(jobIdOf);
    const inStore = todo.map((spec) => ({ ...spec, dir: storeDir(spec) }));
    let added = 0;
    let attached = 0;
    let stored = 0;
    for (let k = 0; k < todo.length; k++) {
      if (finishedRun(inStore[k]!, opts.store)) {
        outcomes[k] = collect(todo[k]!, inStore[k]!, opts);
        stored++;
        continue;
      }
      const existing = await queue.getJob(ids[k]!);
      if (existing) {
        attached++;
        // A run a previous sweep failed is retried, as a local re-run would.
        if ((await existing.getState()) === 'failed') await existing.retry('failed');
        continue;
      }
      await queue.add(
        runName(todo[k]!.policy, todo[k]!.seed),
        { spec: inStore[k]!, dbmim: VERSION, backend: opts.backend },
        {
          jobId: ids[k]!,
          attempts: RUN_ATTEMPTS,
          backoff: { type: 'fixed', delay: RETRY_DELAY_MS },
          removeOnComplete: false,
          removeOnFail: false,
        },
      );
      added++;
    }
    opts.log(
      `queue ${opts.target.url}: enqueued ${added} run(s), attached to ${attached} queued earlier, ${stored} finished in the store`,
    );

    // Wait: one line per state whenever the counts or the active runs change (and every 15 s).
    let last = '';
    let lastAt = 0;
    for (;;) {
      const counts = { waiting: 0, active: 0, done: 0, failed: 0 };
      const active: string[] = [];
      for (let k = 0; k < todo.length; k++) {
        if (outcomes[k]) {
          counts[`record` in outcomes[k]! ? 'done' : 'failed']++;
          continue;
        }
        const job = (await queue.getJob(ids[k]!)) as Job<RunJobData> | undefined;
        const state = job ? await job.getState() : 'unknown';
        const name = runName(todo[k]!.policy, todo[k]!.seed);
        if (state === 'completed') {
          outcomes[k] = collect(todo[k]!, inStore[k]!, opts);
          counts['record' in outcomes[k]! ? 'done' : 'failed']++;
        } else if (state === 'failed') {
          const error = `failed after ${job!.attemptsMade} attempt(s): ${job!.failedReason}`;
          outcomes[k] = { error };
          opts.log(`  ${name}: ${error}`);
          counts.failed++;
        } else if (state === 'active') {
          counts.active++;
          active.push(describeJob(name, job!.progress as RunJobProgress | undefined));
        } else if (state === 'unknown') {
          outcomes[k] = { error: `job ${ids[k]} disappeared from the queue (was Redis flushed?)` };
          counts.failed++;
        } else counts.waiting++;
      }
      const line =
        `  queue: ${counts.waiting} waiting, ${counts.active} active, ${counts.done} done, ${counts.failed} failed` +
        (active.length ? ` | ${active.join(', ')}` : '');
      if (line !== last || performance.now() - lastAt > STATUS_EVERY_MS) {
        opts.log(line);
        last = line;
        lastAt = performance.now();
      }
      if (outcomes.every((o) => o !== null)) return outcomes as RunOutcome[];
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await queue.close();
  }
}

/** A completed run's record from the store, copied to the benchmark's output directory. */
function collect(spec: RunSpec, inStore: RunSpec, opts: QueueCoordinatorOptions): RunOutcome {
  const record = finishedRun(inStore, opts.store);
  if (!record)
    return { error: `completed, but ${join(opts.store, inStore.dir, 'result.json')} is missing or differs` };
  for (const f of runFiles(spec)) {
    const src = join(opts.store, inStore.dir, f);
    if (existsSync(src)) writeFileAtomic(join(opts.outDir, spec.dir, f), readFileSync(src));
  }
  return { record };
}

/** Options of {@link runQueueWorker}. */
export interface QueueWorkerOptions {
  target: RedisTarget;
  /** The shared store, absolute (see checkStore). */
  store: string;
  /** Runs at a time (each in its own worker process). */
  concurrency: number;
  /** Job lock (ms): how long a dead worker's run stays taken. Default 30 s. */
  lockMs?: number;
  backend: string;
  /** Modules the run processes import (plugins). */
  preload: string[];
  log: (line: string) => void;
}

/** A running queue worker: `close()` finishes the current runs, `close(true)` releases them now. */
export interface QueueWorkerHandle {
  close(force?: boolean): Promise<void>;
  /** Resolves when the worker has closed. */
  closed: Promise<void>;
}

/** Take runs from the queue and execute each in a worker process, until closed. */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<QueueWorkerHandle> {
  await checkRedis(opts.target);
  const me = `${hostname()}:${process.pid}`;
  const idle: WorkerProcess[] = [];
  const busy = new Set<WorkerProcess>();
  const processOpts = { root: opts.store, backend: opts.backend, preload: opts.preload, log: opts.log };

  const processor = async (job: Job<RunJobData>): Promise<{ dir: string }> => {
    const { spec, dbmim, backend } = job.data;
    const name = runName(spec.policy, spec.seed);
    if (dbmim !== VERSION || backend !== opts.backend) {
      const msg = `worker ${me} refuses ${name}: it was enqueued by dbmim ${dbmim} on ${backend}, this worker is dbmim ${VERSION} on ${opts.backend}`;
      opts.log(`error: ${msg}`);
      throw new ConfigError(msg);
    }
    if (finishedRun(spec, opts.store)) return { dir: spec.dir }; // another attempt finished it
    // Each attempt writes its own directory, published by one rename: nothing another attempt
    // finished is overwritten, and a dead attempt leaves no half-written result in place.
    const attempt = `${spec.dir}.attempt-${hostname()}-${process.pid}-${Date.now().toString(36)}`;
    const proc = idle.pop() ?? new WorkerProcess(processOpts);
    busy.add(proc);
    let sentAt = 0;
    let sentStage = '';
    opts.log(`${name}: started (job ${job.id}, attempt ${job.attemptsMade + 1})`);
    const outcome = await proc.run({ ...spec, dir: attempt }, (a) => {
      if (a.stage === sentStage && performance.now() - sentAt < PROGRESS_EVERY_MS) return;
      sentStage = a.stage;
      sentAt = performance.now();
      const p: RunJobProgress = { ...a, worker: me };
      job.updateProgress(p as unknown as object).catch(() => undefined);
    });
    busy.delete(proc);
    if (proc.alive) idle.push(proc);
    const from = join(opts.store, attempt);
    if ('error' in outcome) {
      rmSync(from, { recursive: true, force: true });
      opts.log(`${name}: failed: ${outcome.error}`);
      throw new DbmimError(outcome.error);
    }
    try {
      renameSync(from, join(opts.store, spec.dir));
    } catch (e) {
      rmSync(from, { recursive: true, force: true });
      if (!finishedRun(spec, opts.store)) throw e;
    }
    opts.log(`${name}: done, ${describeRecord(outcome.record)}`);
    return { dir: spec.dir };
  };

  const lockMs = opts.lockMs ?? DEFAULT_LOCK_MS;
  const worker = new Worker<RunJobData, { dir: string }>(QUEUE_NAME, processor, {
    connection: connectionOf(opts.target),
    concurrency: opts.concurrency,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: MAX_STALLS,
    name: me,
  });
  worker.on('error', (e) => opts.log(`queue: ${e.message}`));
  await worker.waitUntilReady();
  opts.log(
    `worker ${me}: taking runs from ${opts.target.url} (queue ${QUEUE_NAME}), concurrency ${opts.concurrency}, store ${opts.store}`,
  );
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  return {
    closed,
    close: async (force = false) => {
      // Forced: stop without finishing; the runs' locks expire and other workers retry them.
      await worker.close(force);
      for (const p of busy) p.kill();
      for (const p of idle) p.close();
      resolveClosed();
    },
  };
}

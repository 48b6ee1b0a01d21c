import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { selectBackend } from '../src/core/backend.js';
import { VERSION } from '../src/version.js';
import { runBenchmark, type BenchmarkOptions } from '../src/tasks/benchmark/benchmark.js';
import type { BenchmarkResults, RunRecord } from '../src/tasks/benchmark/results.js';
import {
  QUEUE_NAME,
  checkStore,
  parseQueueUrl,
  runQueueWorker,
  type QueueWorkerHandle,
} from '../src/tasks/benchmark/queue.js';
import { runCli } from './cli-harness.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

// The benchmark on a real redis-server (started here on a free loopback port, no persistence): two
// worker processes, one SIGKILLed during a run; every run finishes once with the numbers of a local
// `--jobs 1` run; a second coordinator enqueues nothing; bad input gets one clear line.

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const LOCK_SECONDS = 5;

const opts = (outDir: string, extra: Partial<BenchmarkOptions> = {}): BenchmarkOptions => ({
  preset: 'quick',
  data: null,
  outDir,
  policies: ['random'],
  seeds: [1, 2],
  readouts: { finetune: ['all'] },
  config: TINY_BENCH_CONFIG,
  ...extra,
});

/** A record without its wall-clock fields (everything else must match bit for bit). */
function numbers(r: RunRecord): unknown {
  return {
    policy: r.policy,
    seed: r.seed,
    pretrain: r.pretrain && { ...r.pretrain, seconds: 0 },
    evaluations: r.evaluations.map((e) => ({
      ...e,
      finetune: { ...e.finetune, seconds: 0 },
      predict: { ...e.predict, seconds: 0 },
      segment: { seconds: 0 },
    })),
    maskPreview: r.maskPreview,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** redis-server on 127.0.0.1:<free port> in a temp dir, without persistence. */
async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-redis-'));
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}/0`;
  const q = new Queue('ping', { connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null } });
  q.on('error', () => undefined);
  await q.waitUntilReady();
  await q.close();
  return {
    url,
    stop: async () => {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `dbmim worker` in its own process; stderr lines collected, `onLine` sees each. */
function startWorker(url: string, store: string, onLine: (l: string) => void = () => undefined) {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/dev.ts',
      'worker',
      '--queue',
      url,
      '--store',
      store,
      '--lock-seconds',
      String(LOCK_SECONDS),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: string[] = [];
  proc.stderr!.setEncoding('utf8');
  let buf = '';
  proc.stderr!.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      onLine(l);
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, lines, exited };
}

if (!HAVE_REDIS) {
  console.log('skipped: redis-server not installed');
} else {
  test('queue: two workers, one SIGKILLed mid-run; every run once, scores = local --jobs 1; a second coordinator enqueues nothing', async () => {
    await selectBackend();
    const redis = await startRedis();
    const workers: ChildProcess[] = [];
    try {
      const store = mkdtempSync(join(tmpdir(), 'dbmim-store-'));
      const out = mkdtempSync(join(tmpdir(), 'dbmim-queue-out-'));
      const out2 = mkdtempSync(join(tmpdir(), 'dbmim-queue-out2-'));
      const local = mkdtempSync(join(tmpdir(), 'dbmim-queue-local-'));
      const coordLines: string[] = [];
      const sweep = runBenchmark(
        opts(out, { queue: { url: redis.url, store }, log: (l) => coordLines.push(l) }),
      );

      // Worker A is killed as soon as it is inside a run; worker B carries on and retries that run.
      let killedRun = '';
      const a = startWorker(redis.url, store, (l) => {
        const m = /^\s+(?:pretrain|finetune) (\w+) seed (\d+)/.exec(l);
        if (m && !killedRun) {
          killedRun = `${m[1]}-s${m[2]}`;
          a.proc.kill('SIGKILL');
        }
      });
      const b = startWorker(redis.url, store);
      workers.push(a.proc, b.proc);

      // A second coordinator on the same sweep (another output directory) attaches to the jobs.
      while (!coordLines.some((l) => l.startsWith('queue '))) await new Promise((r) => setTimeout(r, 200));
      const second2: string[] = [];
      const second = runBenchmark(
        opts(out2, { queue: { url: redis.url, store }, log: (l) => second2.push(l) }),
      );

      const [{ results }, { results: results2 }] = await Promise.all([sweep, second]);
      const killed = await a.exited;
      assert.is(killed.signal, 'SIGKILL');
      assert.ok(killedRun, 'worker A was killed during a run');

      // The first coordinator enqueued all 4; the second none.
      assert.ok(
        coordLines.some((l) => /enqueued 4 run\(s\)/.test(l)),
        coordLines.join('\n'),
      );
      assert.ok(
        second2.some((l) => /enqueued 0 run\(s\)/.test(l)),
        `second coordinator: ${second2.join('\n')}`,
      );

      // Every run finished exactly once (B's "done" lines), the killed one by B after A died.
      const done = b.lines.filter((l) => /: done, VOI sum/.test(l)).map((l) => l.split(':')[0]);
      assert.equal([...done].sort(), ['random-s1', 'random-s2', 'scratch-s1', 'scratch-s2']);
      assert.not.ok(a.lines.some((l) => /: done, VOI sum/.test(l) && l.startsWith(killedRun)));
      const runDirs = readdirSync(join(store, 'runs')).filter((d) => !d.includes('.attempt-'));
      assert.is(runDirs.length, 4);

      // The same numbers as a local --jobs 1 run, and a complete report.
      const ref = await runBenchmark(opts(local, { jobs: 1 }));
      assert.is(results.failed, undefined);
      assert.equal(results.runs.map(numbers), ref.results.runs.map(numbers));
      assert.equal(results2.runs.map(numbers), ref.results.runs.map(numbers));
      const md = readFileSync(join(out, 'report.md'), 'utf8');
      assert.match(md, /\| random \| 2 \|/);
      assert.match(md, /\| scratch \| 2 \|/);
      assert.not.match(md, /Failed runs/);
      const saved = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchmarkResults;
      assert.is(saved.runs.length, 4);

      // SIGTERM: worker B exits cleanly.
      b.proc.kill('SIGTERM');
      const end = await b.exited;
      assert.is(end.code, 0, b.lines.slice(-5).join('\n'));
      assert.ok(b.lines.some((l) => l.includes('worker: closed')));
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await redis.stop();
    }
  });

  test('queue: a run that raises twice is failed with its error and listed; a worker of another version refuses', async () => {
    const redis = await startRedis();
    let worker: QueueWorkerHandle | null = null;
    try {
      const store = checkStore(mkdtempSync(join(tmpdir(), 'dbmim-store-')));
      const target = parseQueueUrl(redis.url);
      const workerLog: string[] = [];
      worker = await runQueueWorker({
        target,
        store,
        concurrency: 1,
        // no lock expiry is tested here: a long lock keeps a loaded machine (a run's first module loads
        // can block this process for seconds) from stalling the job into another failure reason
        lockMs: 60_000,
        backend: (await selectBackend()).name,
        preload: [],
        log: (l) => workerLog.push(l),
      });

      // A job from a coordinator of another dbmim version: refused with both versions named.
      const q = new Queue(QUEUE_NAME, { connection: { ...target, maxRetriesPerRequest: null } });
      const job = await q.add(
        'other',
        {
          spec: { policy: 'random', seed: 1, config: {}, splitConfig: {}, dir: 'runs/x' },
          dbmim: '0.0.0-other',
          backend: 'wasm',
        },
        { attempts: 1 },
      );
      while (!['failed', 'completed'].includes(await job.getState()))
        await new Promise((r) => setTimeout(r, 100));
      const failed = await q.getJob(job.id!);
      assert.match(
        failed!.failedReason,
        new RegExp(
          `enqueued by dbmim 0\\.0\\.0-other on wasm, this worker is dbmim ${VERSION.replace(/\./g, '\\.')}`,
        ),
      );
      assert.ok(workerLog.some((l) => l.startsWith('error: worker ') && l.includes('refuses')));
      await q.close();

      // A run that raises (an agent nobody registered): failed after 2 attempts, listed in the report.
      const out = mkdtempSync(join(tmpdir(), 'dbmim-queue-fail-'));
      const { results } = await runBenchmark(
        opts(out, { policies: ['nope'], seeds: [1], noScratch: true, queue: { url: redis.url, store } }),
      );
      assert.is(results.runs.length, 0);
      assert.is(results.failed?.length, 1);
      assert.match(results.failed![0]!.error, /failed after 2 attempt\(s\): .*nope/);
      assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /## Failed runs[\s\S]*\| nope \| 1 \|/);
    } finally {
      await worker?.close();
      await redis.stop();
    }
  });

  test('queue: bad input gets one clear line (scheme, unreachable Redis, store not writable)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dbmim-queue-bad-'));
    const file = join(out, 'a-file');
    writeFileSync(file, 'x');
    const port = await freePort(); // nothing listens there
    const cases: [string[], RegExp][] = [
      [['--queue', 'http://127.0.0.1:6379', '--store', out], /^error: --queue: unsupported scheme 'http'/],
      [
        ['--queue', `redis://127.0.0.1:${port}`, '--store', out],
        /^error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
      ],
      [
        ['--queue', `redis://127.0.0.1:${port}`, '--store', join(file, 'store')],
        /^error: --store .*a-file\/store: not a writable directory/,
      ],
      [['--queue', `redis://127.0.0.1:${port}`], /^error: --queue and --store go together/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli('bench', '--synthetic', '--out', out, ...args);
      assert.is(r.code, 1, args.join(' '));
      assert.is(r.err.length, 1, r.err.join('\n'));
      assert.match(r.err[0]!, re);
    }
    const w = await runCli('worker', '--queue', 'redis://127.0.0.1:notaport', '--store', out);
    assert.is(w.code, 1);
    assert.match(w.err.join('\n'), /^error: --queue: expected redis:\/\/HOST:PORT\[\/DB\]/);
  });
}

test.run();

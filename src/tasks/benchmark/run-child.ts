/*
 * Entry of a benchmark worker process (forked by jobs.ts): gets ready when told (backend, plugins, the
 * runs' data split), executes the runs it is sent, one at a time, with `executeRun` (the code an
 * in-process run uses), reports log lines, progress and each record over IPC, and exits when the parent
 * disconnects. Not an API; started only by jobs.ts.
 */
import type { ChildMessage, ChildPrepare, ChildRequest } from './jobs.js';

if (!process.send) {
  console.error('error: run-child is started by `dbmim bench --jobs`, not directly');
  process.exit(2);
}
// Under tsx, source maps are on, and Node then reads the map of every module it loads (the tfjs bundles'
// run to megabytes): seconds of each worker's start. A worker reports errors by message, not by stack,
// so it turns them off before loading anything else (hence the dynamic imports below).
process.setSourceMapsEnabled(false);
await import('reflect-metadata');
await import('../../agents/index.js');
const { parseBackend, selectBackend } = await import('../../core/backend.js');
const { loadPlugins } = await import('../plugins.js');
const { executeRun, runSplit } = await import('./benchmark.js');

const send = (m: ChildMessage): Promise<void> =>
  new Promise((resolve) => {
    process.send!(m, () => resolve());
  });

async function ready(backend: string, preload: string[]): Promise<void> {
  await selectBackend(parseBackend(backend, 'backend'));
  await loadPlugins(preload); // the parent's --plugin files, registered the same way
}

async function runOne(req: ChildRequest): Promise<void> {
  try {
    await ready(req.backend, req.preload);
    const record = await executeRun(req.spec, req.root, {
      log: (line) => void send({ type: 'log', line }),
      progress: (stage, step, total) => void send({ type: 'progress', stage, step, total }),
    });
    await send({ type: 'done', record });
  } catch (e) {
    await send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
}

/** Get ready before the first run; a failure here is left to the run, which reports it. */
async function prepare(req: ChildPrepare): Promise<void> {
  try {
    await ready(req.backend, req.preload);
    await runSplit(req.splitConfig);
  } catch {
    // the run repeats what failed and reports it
  }
}

// One message at a time, in order: the parent sends the next run only after the previous record.
let queue = Promise.resolve();
process.on('message', (m: ChildRequest | ChildPrepare) => {
  queue = queue.then(() => ('spec' in m ? runOne(m) : prepare(m)));
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides (it finishes or stops this run).
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

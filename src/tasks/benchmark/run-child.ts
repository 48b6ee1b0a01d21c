/*
 * Entry of a benchmark worker process (forked by jobs.ts): executes the runs it is sent, one at a time,
 * with `executeRun` (the code an in-process run uses), reports log lines, progress and each record over
 * IPC, and exits when the parent disconnects. Not an API; started only by `runInProcesses`.
 */
import 'reflect-metadata';
import '../../agents/index.js';
import { parseBackend, selectBackend } from '../../core/backend.js';
import { loadPlugins } from '../plugins.js';
import { executeRun } from './benchmark.js';
import type { ChildMessage, ChildRequest } from './jobs.js';

const send = (m: ChildMessage): Promise<void> =>
  new Promise((resolve) => {
    process.send!(m, () => resolve());
  });

async function runOne(req: ChildRequest): Promise<void> {
  try {
    await selectBackend(parseBackend(req.backend, 'backend'));
    await loadPlugins(req.preload); // the parent's --plugin files, registered the same way
    const record = await executeRun(req.spec, req.root, {
      log: (line) => void send({ type: 'log', line }),
      progress: (stage, step, total) => void send({ type: 'progress', stage, step, total }),
    });
    await send({ type: 'done', record });
  } catch (e) {
    await send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
}

if (!process.send) {
  console.error('error: run-child is started by `dbmim bench --jobs`, not directly');
  process.exit(2);
}
// One run at a time: the parent sends the next request only after the previous record.
process.on('message', (req: ChildRequest) => void runOne(req));
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the parent decides (it finishes or stops this run).
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

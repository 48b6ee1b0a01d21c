import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseNumber, useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';

interface WorkerCliOptions {
  queue: string;
  store: string;
  concurrency: string;
  lockSeconds: string;
  plugin?: string[];
}

export function register(program: Command): void {
  withPluginOption(program.command('worker'))
    .description(
      'take benchmark runs from a Redis job queue (enqueued by `dbmim bench --queue`) and execute them, each ' +
        'in its own process, exactly as a local run. SIGTERM or Ctrl-C finishes the current runs, then exits; ' +
        'a second one stops at once (other workers retry the runs once their locks expire).',
    )
    .requiredOption('--queue <url>', 'Redis URL, redis://HOST:PORT[/DB]')
    .requiredOption('--store <dir>', 'the store directory the coordinator and every worker share')
    .option('--concurrency <n>', 'runs at a time, each in its own process', '1')
    .option(
      '--lock-seconds <s>',
      "how long a dead worker's run stays taken before another worker retries it",
      '30',
    )
    .action(async (opts: WorkerCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      await usePlugins(opts.plugin, g.quiet);
      const { checkRedis, checkStore, parseQueueUrl, runQueueWorker } =
        await import('../../tasks/benchmark/queue.js');
      const target = parseQueueUrl(opts.queue);
      const store = checkStore(opts.store);
      const concurrency = parseNumber(opts.concurrency, '--concurrency', 1, 256, true);
      const lockSeconds = parseNumber(opts.lockSeconds, '--lock-seconds', 1, 86_400);
      await checkRedis(target);
      const backend = await useBackend(g);
      const worker = await runQueueWorker({
        target,
        store,
        concurrency,
        lockMs: lockSeconds * 1000,
        backend: backend.name,
        preload: (opts.plugin ?? []).map((f) => resolve(f)),
        log: (l) => console.error(l),
      });
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          console.error(`${sig}: finishing the current run(s), then exiting (send it again to stop now)`);
          void worker.close();
        } else {
          console.error(`${sig}: stopping now; the current run(s) will be retried by other workers`);
          void worker.close(true);
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        await worker.closed;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      console.error('worker: closed');
    });
}

import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { registeredAgents } from '../../agents/index.js';
import { buildPretraining } from '../../tasks/pretrain/build.js';
import { parseNumber, useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';
import { attachProgress } from '../progress.js';
import { runConfig, withRunConfig, type RunConfigOptions } from '../run-config.js';

interface PretrainOptions extends RunConfigOptions {
  agent?: string;
  steps?: string;
  phase2Steps?: string;
  out: string;
  resume?: string;
  checkpointEvery?: string;
  plugin?: string[];
}

function count(v: string | undefined, flag: string): number | undefined {
  return v === undefined ? undefined : parseNumber(v, flag, 0, Number.MAX_SAFE_INTEGER, true);
}

export function register(program: Command): void {
  withRunConfig(
    withPluginOption(
      program
        .command('pretrain')
        .description(
          'pretrain the MIM model with a masking policy (phase 1: policy and model together; phase 2: policy ' +
            'frozen). Writes OUT/checkpoint/, OUT/metrics.jsonl, OUT/config.json',
        )
        .option(
          '--agent <name>',
          'masking policy: ippo, mappo, random, edge, mixed, block or a registered name',
        )
        .option('--steps <n>', 'phase-1 steps (env steps = MIM updates)')
        .option('--phase2-steps <n>', 'phase-2 steps (policy frozen)')
        .option('--checkpoint-every <n>', 'checkpoint interval in steps (rounded up to an episode boundary)')
        .requiredOption('--out <dir>', 'output directory')
        .option('--resume <dir>', 'continue from a checkpoint directory (OUT/checkpoint of an earlier run)'),
    ),
  ).action(async (opts: PretrainOptions, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const train: Record<string, number> = {};
    const steps = count(opts.steps, '--steps');
    const p2 = count(opts.phase2Steps, '--phase2-steps');
    const every = count(opts.checkpointEvery, '--checkpoint-every');
    if (steps !== undefined) train.phase1Steps = steps;
    if (p2 !== undefined) train.phase2Steps = p2;
    if (every !== undefined) train.checkpointEvery = every;
    const config = runConfig(opts, {
      ...(opts.agent ? { agent: { name: opts.agent } } : {}),
      train,
    });
    await useBackend(g);
    await usePlugins(opts.plugin, g.quiet);
    if (!registeredAgents().includes(config.agent.name))
      throw new ConfigError(
        `unknown agent '${config.agent.name}'; registered agents: ${registeredAgents().join(', ')}`,
      );
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        console.error(
          '\ninterrupt: writing a checkpoint at the next episode boundary (Ctrl-C again to quit now)',
        );
        abort.abort();
      } else process.exit(130);
    };
    process.on('SIGINT', onSigint);
    const setup = await buildPretraining(config, {
      outDir: opts.out,
      resumeDir: opts.resume,
      signal: abort.signal,
    });
    try {
      const total = config.train.phase1Steps + config.train.phase2Steps;
      setup.trainer.events$.subscribe((e) => {
        if (e.type === 'warning') console.error(`warning: ${e.message}`);
      });
      if (!g.quiet) attachProgress(setup.trainer.events$, total, { label: `pretrain ${config.agent.name}` });
      const r = await setup.trainer.run();
      console.log(
        JSON.stringify({
          out: opts.out,
          agent: config.agent.name,
          steps: r.steps,
          stopped: r.stopped,
          finalMimLoss: r.finalMimLoss,
          seconds: Number(r.seconds.toFixed(2)),
          checkpoint: r.checkpointDir,
        }),
      );
    } finally {
      process.off('SIGINT', onSigint);
      setup.dispose();
    }
  });
}

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { applyOverrides, readConfigFile, type ConfigInput } from '../../core/config.js';
import { registeredAgents } from '../../agents/index.js';
import { LONG_ROW, runBenchmark } from '../../tasks/benchmark/benchmark.js';
import {
  PRESET_NAMES,
  PRESETS,
  type BenchPreset,
  type LabelBudget,
  type Readout,
} from '../../tasks/benchmark/presets.js';
import { defaultJobs } from '../../tasks/benchmark/jobs.js';
import { parseNumber, useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';

interface BenchOptions {
  policies?: string;
  seeds?: string;
  data?: string;
  synthetic?: boolean;
  out: string;
  preset: string;
  scratch: boolean;
  long: boolean;
  probe?: string;
  finetune?: string;
  config?: string;
  set: string[];
  plugin?: string[];
  jobs?: string;
  queue?: string;
  store?: string;
}

export function register(program: Command): void {
  withPluginOption(program.command('bench'))
    .description(
      'benchmark masking policies end to end: pretrain with each policy and seed, finetune segmentation, ' +
        'predict held-out data, segment, score (VOI, ARAND); writes OUT/results.json, OUT/report.md and figures. ' +
        'Finished runs are skipped on re-run.',
    )
    .option('--policies <list>', "comma-separated policies (default: the preset's)")
    .option('--seeds <list>', "comma-separated seeds (default: the preset's)")
    .option(
      '--data <file>',
      'HDF5 volume in CREMI layout (ISBI split: train sections 0-15, validate 16-19, test 20-29)',
    )
    .option('--synthetic', 'use synthetic volumes (a separate one for evaluation)')
    .requiredOption('--out <dir>', 'output directory')
    .option(
      '--preset <name>',
      'quick (minutes), full, or calibrate (pretrained vs scratch with few labels, 3 seeds)',
      'quick',
    )
    .option('--no-scratch', 'skip the no-pretraining control')
    .option('--no-long', 'skip the positive control (random masking pretrained longer)')
    .option(
      '--probe <budgets>',
      "label budgets of the frozen-encoder probe: comma-separated crop counts and/or 'all', or 'none' (default: the preset's)",
    )
    .option(
      '--finetune <budgets>',
      "label budgets of full finetuning: comma-separated crop counts and/or 'all', or 'none' (default: the preset's)",
    )
    .option('--config <file>', 'JSON config merged over the preset')
    .option(
      '--set <field=value>',
      'override a config field (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option(
      '--jobs <n>',
      'runs at a time, each in its own worker process (default: the number of cores, capped by free memory)',
    )
    .option(
      '--queue <url>',
      'run on a Redis job queue instead, redis://HOST:PORT[/DB]: enqueue the runs without a result, wait for ' +
        '`dbmim worker` processes to execute them, then write the report',
    )
    .option(
      '--store <dir>',
      'with --queue: the directory every worker and this process share for run outputs',
    )
    .action(async (opts: BenchOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (!(opts.preset in PRESETS))
        throw new ConfigError(`--preset: expected ${PRESET_NAMES.join(', ')}, got '${opts.preset}'`);
      const preset = PRESETS[opts.preset as BenchPreset['name']];
      const readouts: Partial<Record<Readout, LabelBudget[]>> = { ...preset.readouts };
      for (const r of ['probe', 'finetune'] as const)
        if (opts[r] !== undefined) readouts[r] = parseBudgets(opts[r], `--${r}`);
      if (!!opts.data === !!opts.synthetic)
        throw new ConfigError('give exactly one of --data FILE and --synthetic');
      await usePlugins(opts.plugin, g.quiet);
      const policies = opts.policies?.split(',').map((s) => s.trim());
      const known = [...registeredAgents(), 'scratch', LONG_ROW];
      for (const p of policies ?? [])
        if (!known.includes(p))
          throw new ConfigError(`--policies: unknown policy '${p}' (known: ${known.join(', ')})`);
      const seeds = opts.seeds?.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0)
          throw new ConfigError(`--seeds: expected non-negative integers, got '${s}'`);
        return n;
      });
      const jobs = opts.jobs === undefined ? defaultJobs() : parseNumber(opts.jobs, '--jobs', 1, 256, true);
      if (!!opts.queue !== !!opts.store)
        throw new ConfigError('--queue and --store go together (the queue and the shared store directory)');
      let queue: { url: string; store: string } | undefined;
      if (opts.queue && opts.store) {
        const { checkRedis, checkStore, parseQueueUrl } = await import('../../tasks/benchmark/queue.js');
        const target = parseQueueUrl(opts.queue);
        queue = { url: opts.queue, store: checkStore(opts.store) };
        await checkRedis(target);
      }
      const base = opts.config ? readConfigFile(opts.config) : {};
      const config = applyOverrides(base, opts.set) as ConfigInput;
      await useBackend(g);
      const { report, results } = await runBenchmark({
        preset: preset.name,
        // Workers elsewhere need the data file by its absolute path (on a shared filesystem).
        data: opts.synthetic ? null : queue ? resolve(opts.data!) : opts.data!,
        outDir: opts.out,
        ...(policies ? { policies } : {}),
        ...(seeds ? { seeds } : {}),
        config,
        noScratch: !opts.scratch,
        noLong: !opts.long,
        readouts,
        jobs,
        // worker processes load the same plugins before a run
        preload: (opts.plugin ?? []).map((f) => resolve(f)),
        ...(queue ? { queue } : {}),
        log: g.quiet ? undefined : (l) => console.error(l),
      });
      console.log(`report: ${report}`);
      console.log(`results: ${results.runs.length} runs in ${opts.out}/results.json`);
      if (results.failed?.length) {
        console.error(
          `error: ${results.failed.length} run(s) failed (${results.failed.map((f) => `${f.policy} seed ${f.seed}`).join(', ')}); run the same command again to retry them`,
        );
        process.exitCode = 1;
      }
    });
}

/** `4,16,all` -> [4, 16, 'all']; `none` -> []. */
function parseBudgets(text: string, option: string): LabelBudget[] {
  if (text.trim() === 'none') return [];
  return text.split(',').map((t) => {
    const s = t.trim();
    if (s === 'all') return 'all';
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1)
      throw new ConfigError(`${option}: expected positive crop counts, 'all' or 'none', got '${s}'`);
    return n;
  });
}

import type { Command } from 'commander';
import { loadConfig, type Config, type ConfigInput } from '../core/config.js';
import { ConfigError } from '../core/errors.js';

/** Options shared by commands that run from a config (pretrain, rollout, check-env, bench...). */
export interface RunConfigOptions {
  config?: string;
  set?: string[];
  seed?: string;
  data?: string;
  synthetic?: boolean;
}

/** Add `--config`, `--set`, `--seed`, `--data`, `--synthetic` to a command. */
export function withRunConfig(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON config file (see README, "Configuration")')
    .option(
      '--set <field=value>',
      'override a config field, e.g. --set model.depth=2 (repeatable)',
      collect,
      [],
    )
    .option('--seed <n>', 'run seed (one seed fixes the run on a backend)')
    .option(
      '--data <file>',
      'HDF5 file or Zarr store in CREMI layout (file.h5, file.h5:volumes/raw, store.zarr:volumes/raw)',
    )
    .option('--synthetic', 'use a generated synthetic volume instead of a file');
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Resolve the config of a command: file, then `--set` overrides, then the dedicated flags. */
export function runConfig(opts: RunConfigOptions, extra: ConfigInput = {}): Config {
  if (opts.data && opts.synthetic) throw new ConfigError('--data and --synthetic exclude each other');
  const fromFlags: Record<string, unknown> = { ...extra };
  if (opts.seed !== undefined) {
    const s = Number(opts.seed);
    if (!Number.isInteger(s) || s < 0)
      throw new ConfigError(`--seed: expected a non-negative integer, got '${opts.seed}'`);
    fromFlags.seed = s;
  }
  if (opts.data) fromFlags.data = { ...(fromFlags.data as object), path: opts.data };
  if (opts.synthetic) fromFlags.data = { ...(fromFlags.data as object), path: null };
  return loadConfig(opts.config, opts.set ?? [], fromFlags as ConfigInput);
}

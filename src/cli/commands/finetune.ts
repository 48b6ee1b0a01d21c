import type { Command } from 'commander';
import { loadConfig, type ConfigInput } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { loadDataSplit } from '../../tasks/data-split.js';
import { finetune } from '../../tasks/segmentation/finetune.js';
import { parseNumberList, useBackend, type GlobalOptions } from '../context.js';

interface FinetuneCliOptions {
  encoder?: string;
  scratch?: boolean;
  data?: string;
  steps?: string;
  seed?: string;
  out: string;
  config?: string;
  set: string[];
  raw?: string;
  labels?: string;
  trainZ?: string;
  validZ?: string;
  validCrops: string;
}

/** Parse `a,b` into a section range [a, b), naming the option on error. */
export function parseZRange(value: string, option: string): [number, number] {
  let v: number[];
  try {
    v = parseNumberList(value, option, 2);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const [a, b] = v as [number, number];
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b <= a)
    throw new ConfigError(`${option}: expected sections 'start,end' with 0 <= start < end, got '${value}'`);
  return [a, b];
}

function integer(value: string, option: string, min: number): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isInteger(v) || v < min)
    throw new ConfigError(`${option}: expected an integer >= ${min}, got '${value}'`);
  return v;
}

/** The command's data options as config fields (the data split itself is tasks/data-split.ts). */
function dataOptions(opts: FinetuneCliOptions): NonNullable<ConfigInput['data']> {
  return {
    ...(opts.data ? { path: opts.data } : {}),
    ...(opts.raw ? { rawKey: opts.raw } : {}),
    ...(opts.labels ? { labelsKey: opts.labels } : {}),
    ...(opts.trainZ ? { trainZ: parseZRange(opts.trainZ, '--train-z') } : {}),
    ...(opts.validZ ? { validZ: parseZRange(opts.validZ, '--valid-z') } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('finetune')
    .description(
      'finetune the affinity network (encoder + UNETR-style decoder) on labelled crops, from a pretrained ' +
        'encoder (--encoder DIR) or from scratch (--scratch); writes OUT/model, OUT/metrics.jsonl, OUT/config.json',
    )
    .option('--encoder <dir>', 'checkpoint directory with encoder/... weights (MIM or pretraining run)')
    .option('--scratch', 'train the encoder from a random init (the control)')
    .option(
      '--data <file>',
      'HDF5 file with raw and labels (file.h5 or file.h5:raw/key); default: config data.path, else synthetic',
    )
    .option('--steps <n>', 'optimizer updates (default: config finetune.steps)')
    .option('--seed <n>', 'run seed (default: config seed)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--config <file>', 'JSON config file')
    .option(
      '--set <field=value>',
      'config override, repeatable (e.g. --set finetune.lr=3e-4)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option('--raw <key>', 'raw dataset key (default: config data.rawKey)')
    .option('--labels <key>', 'labels dataset key (default: config data.labelsKey)')
    .option('--train-z <a,b>', 'training sections [a, b) (default: config data.trainZ, else all)')
    .option(
      '--valid-z <a,b>',
      'held-out sections [a, b) for the validation loss (default: config data.validZ)',
    )
    .option('--valid-crops <n>', 'held-out crops per validation', '4')
    .action(async (opts: FinetuneCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.encoder && opts.scratch)
        throw new ConfigError('finetune: give either --encoder DIR or --scratch, not both');
      if (!opts.encoder && !opts.scratch)
        throw new ConfigError(
          'finetune: give --encoder DIR (a pretrained checkpoint) or --scratch (the control)',
        );
      const extra: ConfigInput = {};
      if (opts.seed !== undefined) extra.seed = integer(opts.seed, '--seed', 0);
      if (opts.steps !== undefined) extra.finetune = { steps: integer(opts.steps, '--steps', 0) };
      extra.data = dataOptions(opts);
      const config = loadConfig(opts.config, opts.set, extra);
      const validCrops = integer(opts.validCrops, '--valid-crops', 1);
      await useBackend(g);
      const quiet = g.quiet === true;
      const split = await loadDataSplit(config);
      const train = { raw: split.train.raw, labels: split.train.labels! };
      const valid = split.valid;
      if (!quiet)
        console.error(
          `data: ${split.source}, train ${JSON.stringify(train.raw.shape)}` +
            (valid ? `, valid ${JSON.stringify(valid.raw.shape)}` : ', no validation (--valid-z)'),
        );
      const total = config.finetune.steps;
      const every = Math.max(1, Math.floor(total / 20));
      const t0 = performance.now();
      let lastValid = NaN;
      // Ctrl-C stops after the current step; the checkpoint is still written.
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        const r = await finetune({
          config,
          encoderDir: opts.encoder ?? null,
          train,
          ...(valid ? { valid } : {}),
          outDir: opts.out,
          validCrops,
          signal: abort.signal,
          onValid: (_s, l) => (lastValid = l),
          onStep: (step, loss) => {
            if (quiet || (step % every !== 0 && step !== total)) return;
            const rate = step / ((performance.now() - t0) / 1000);
            process.stderr.write(
              `finetune ${step}/${total} loss ${loss.toFixed(4)}` +
                (Number.isNaN(lastValid) ? '' : ` valid ${lastValid.toFixed(4)}`) +
                ` ${rate.toFixed(2)} steps/s\n`,
            );
          },
        });
        const last = <T>(a: T[]): T | null => (a.length ? a[a.length - 1]! : null);
        console.log(
          JSON.stringify({
            encoder: r.encoder,
            steps: r.trainLoss.length,
            finalTrainLoss: last(r.trainLoss)?.loss ?? null,
            validLoss: r.validLoss,
            seconds: Number(r.seconds.toFixed(2)),
            checkpointDir: r.checkpointDir,
          }),
        );
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}

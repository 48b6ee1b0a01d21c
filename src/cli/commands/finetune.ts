import type { Command } from 'commander';
import { loadConfig, type Config, type ConfigInput } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { loadCropSource } from '../../data/crop-sampler.js';
import { parseDatasetRef } from '../../data/hdf5.js';
import { generateSynthetic } from '../../data/synthetic.js';
import { finetune, type LabelledVolume } from '../../tasks/segmentation/finetune.js';
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

/** Training and validation volumes from an HDF5 file (section ranges) or, without a file, synthetic. */
async function loadVolumes(
  config: Config,
  opts: FinetuneCliOptions,
  quiet: boolean,
): Promise<{ train: LabelledVolume; valid: LabelledVolume | null; source: string }> {
  const ref = opts.data ?? config.data.path;
  const trainZ = opts.trainZ ? parseZRange(opts.trainZ, '--train-z') : (config.data.trainZ ?? undefined);
  const validZ = opts.validZ
    ? parseZRange(opts.validZ, '--valid-z')
    : (config.data.validZ ?? config.data.evalZ ?? undefined);
  if (!ref) {
    // No file: a synthetic training volume and an independent held-out one (seeded from the run seed).
    const shape = config.data.syntheticShape;
    if (!quiet)
      console.error(
        `data: synthetic ${shape.join('x')} (seed ${config.seed}; held-out volume seed ${config.seed}/valid)`,
      );
    return {
      train: generateSynthetic({ shape, seed: config.seed }),
      valid: generateSynthetic({ shape, seed: `${config.seed}/valid` }),
      source: 'synthetic',
    };
  }
  const { file, key } = parseDatasetRef(ref, opts.raw ?? config.data.rawKey);
  const labelsKey = opts.labels ?? config.data.labelsKey;
  const need = async (z: [number, number] | undefined, what: string): Promise<LabelledVolume> => {
    const src = await loadCropSource(file, key, labelsKey, z);
    if (!src.labels) throw new ConfigError(`${what}: ${file} has no labels under '${labelsKey}'`);
    return { raw: src.raw, labels: src.labels };
  };
  const train = await need(trainZ, 'training data');
  const valid = validZ ? await need(validZ, 'validation data') : null;
  if (!quiet)
    console.error(
      `data: ${file}:${key} + ${labelsKey}, train sections ${trainZ ? `[${trainZ}]` : 'all'} ${JSON.stringify(train.raw.shape)}` +
        (valid
          ? `, valid sections [${validZ}] ${JSON.stringify(valid.raw.shape)}`
          : ', no validation (--valid-z)'),
    );
  return { train, valid, source: file };
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
      'held-out sections [a, b) for the validation loss (default: config data.validZ, else data.evalZ)',
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
      const config = loadConfig(opts.config, opts.set, extra);
      const validCrops = integer(opts.validCrops, '--valid-crops', 1);
      await useBackend(g);
      const quiet = g.quiet === true;
      const { train, valid } = await loadVolumes(config, opts, quiet);
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

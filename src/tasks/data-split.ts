import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { datasetInfo, parseDatasetRef } from '../data/hdf5.js';
import { CropSampler, loadCropSource, type CropSource } from '../data/crop-sampler.js';
import type { Rng } from '../core/rng.js';
import { generateSynthetic } from '../data/synthetic.js';
import type { LabelVolume, RawVolume } from '../data/types.js';

/*
 * The data of a run, split once: a training source (pretraining and finetuning crops), a validation volume
 * (segmentation parameters are chosen on it) and a test volume (scored once); no training step sees the
 * two held-out ones. From an HDF5 file the split is by sections (config data.trainZ / validZ / evalZ, e.g.
 * ISBI: train 0-15, validate 16-19, test 20-29); synthetic data gets volumes drawn with different seeds.
 * This is the one place that turns `config.data` into volumes: pretraining (`buildPretraining`,
 * `createMaskingEnv`), finetuning (`dbmim finetune`) and the benchmark all train on `train` here, so one
 * seed gives them the same volume.
 */

/** The data of one run: a training source and the held-out validation and test volumes. */
export interface DataSplit {
  /** Where the data came from (a path, or `synthetic:D,H,W`). */
  source: string;
  train: CropSource;
  /** Held-out volume for choosing parameters (null when the config has none). */
  valid: { raw: RawVolume; labels: LabelVolume } | null;
  /** Held-out test volume with the labels scores are computed against (null when the config has none). */
  eval: { raw: RawVolume; labels: LabelVolume } | null;
}

/** Seed offset of the synthetic evaluation volume (a different volume from the training one). */
const SYNTHETIC_EVAL_SEED = 1_000_003;
/** Seed offset of the synthetic validation volume. */
const SYNTHETIC_VALID_SEED = 2_000_003;

/** Options of {@link loadDataSplit} and {@link loadTrainSource}. */
export interface LoadDataOptions {
  /** Read the training labels too (default true; pretraining needs raw only). */
  needLabels?: boolean;
}

/** The synthetic training volume of a run seed (the one every task trains on). */
function syntheticTrain(config: Config): CropSource {
  return generateSynthetic({ shape: config.data.syntheticShape, seed: `${config.seed}/train` });
}

/** The training source alone: the same volume as `loadDataSplit(config).train`, without the held-out ones. */
export async function loadTrainSource(config: Config, opts: LoadDataOptions = {}): Promise<CropSource> {
  const d = config.data;
  if (d.path === null) return syntheticTrain(config);
  const { file, key } = parseDatasetRef(d.path, d.rawKey);
  const labelsKey = opts.needLabels === false ? null : d.labelsKey;
  return loadCropSource(file, key, labelsKey, d.trainZ ?? undefined);
}

/**
 * Random training crops for pretraining: a CropSampler of the config's crop shape and augmentation over
 * `source` (default: the config's training volume, {@link loadTrainSource}).
 */
export async function trainingCrops(config: Config, rng: Rng, source?: CropSource): Promise<CropSampler> {
  return new CropSampler(source ?? (await loadTrainSource(config, { needLabels: false })), {
    crop: config.model.crop,
    rng,
    augment: config.data.augment,
  });
}

/** Load the training source and the held-out validation and test volumes that `config.data` describes. */
export async function loadDataSplit(config: Config, opts: LoadDataOptions = {}): Promise<DataSplit> {
  const d = config.data;
  if (d.path === null) {
    const shape = d.syntheticShape;
    const train = syntheticTrain(config);
    const ev = generateSynthetic({ shape, seed: `${config.seed + SYNTHETIC_EVAL_SEED}/eval` });
    const valid = generateSynthetic({ shape, seed: `${config.seed + SYNTHETIC_VALID_SEED}/valid` });
    return { source: `synthetic:${shape.join(',')}`, train, valid, eval: ev };
  }
  const { file, key } = parseDatasetRef(d.path, d.rawKey);
  const depth = (await datasetInfo(file, key)).shape[0]!;
  const trainZ = d.trainZ ?? [0, depth];
  const train = await loadTrainSource(config, opts);
  const heldOut = async (range: [number, number] | null, field: string): Promise<DataSplit['eval']> => {
    if (!range) return null;
    const [a, b] = range;
    if (a < trainZ[1] && trainZ[0] < b)
      throw new InputError(
        `data.${field} [${a},${b}) overlaps data.trainZ [${trainZ[0]},${trainZ[1]}): held-out sections must not be trained on`,
      );
    const e = await loadCropSource(file, key, d.evalLabelsKey ?? d.labelsKey, range);
    return { raw: e.raw, labels: e.labels! };
  };
  if (d.validZ && d.evalZ && d.validZ[0] < d.evalZ[1] && d.evalZ[0] < d.validZ[1])
    throw new InputError(
      `data.validZ [${d.validZ}) overlaps data.evalZ [${d.evalZ}): parameters must not be chosen on test sections`,
    );
  const valid = await heldOut(d.validZ, 'validZ');
  const ev = await heldOut(d.evalZ, 'evalZ');
  return { source: file, train, valid, eval: ev };
}

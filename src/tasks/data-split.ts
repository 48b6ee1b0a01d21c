import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { datasetInfo, parseDatasetRef } from '../data/hdf5.js';
import { loadCropSource, type CropSource } from '../data/crop-sampler.js';
import { generateSynthetic } from '../data/synthetic.js';
import type { LabelVolume, RawVolume } from '../data/types.js';

/*
 * The data of a run, split once: a training source (pretraining and finetuning crops), a validation volume
 * (segmentation parameters are chosen on it) and a test volume (scored once); no training step sees the
 * two held-out ones. From an HDF5 file the split is by sections (config data.trainZ / validZ / evalZ, e.g.
 * ISBI: train 0-15, validate 16-19, test 20-29); synthetic data gets volumes drawn with different seeds.
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

/** Load the training source and the held-out evaluation volume that `config.data` describes. */
export async function loadDataSplit(config: Config, opts: { needLabels?: boolean } = {}): Promise<DataSplit> {
  const d = config.data;
  if (d.path === null) {
    const shape = d.syntheticShape;
    const train = generateSynthetic({ shape, seed: `${config.seed}/train` });
    const ev = generateSynthetic({ shape, seed: `${config.seed + SYNTHETIC_EVAL_SEED}/eval` });
    const valid = generateSynthetic({ shape, seed: `${config.seed + SYNTHETIC_VALID_SEED}/valid` });
    return { source: `synthetic:${shape.join(',')}`, train, valid, eval: ev };
  }
  const { file, key } = parseDatasetRef(d.path, d.rawKey);
  const depth = (await datasetInfo(file, key)).shape[0]!;
  const trainZ = d.trainZ ?? [0, depth];
  const labelsKey = opts.needLabels === false ? null : d.labelsKey;
  const train = await loadCropSource(file, key, labelsKey, trainZ);
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

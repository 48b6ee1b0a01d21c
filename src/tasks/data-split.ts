import type { Config } from '../core/config.js';
import { InputError } from '../core/errors.js';
import { datasetInfo, parseDatasetRef } from '../data/hdf5.js';
import { loadCropSource, type CropSource } from '../data/crop-sampler.js';
import { generateSynthetic } from '../data/synthetic.js';
import type { LabelVolume, RawVolume } from '../data/types.js';

/*
 * The data of a run, split once: a training source (pretraining and finetuning crops) and a held-out
 * evaluation volume that no training step sees. From an HDF5 file the split is by sections (config
 * data.trainZ / data.evalZ, e.g. ISBI: train 0-19, evaluate 20-29); synthetic data gets two volumes drawn
 * with different seeds.
 */

export interface DataSplit {
  /** Where the data came from (a path, or `synthetic:D,H,W`). */
  source: string;
  train: CropSource;
  /** Held-out volume with the labels scores are computed against (null when the config has none). */
  eval: { raw: RawVolume; labels: LabelVolume } | null;
}

/** Seed offset of the synthetic evaluation volume (a different volume from the training one). */
const SYNTHETIC_EVAL_SEED = 1_000_003;

/** Load the training source and the held-out evaluation volume that `config.data` describes. */
export async function loadDataSplit(config: Config, opts: { needLabels?: boolean } = {}): Promise<DataSplit> {
  const d = config.data;
  if (d.path === null) {
    const shape = d.syntheticShape;
    const train = generateSynthetic({ shape, seed: `${config.seed}/train` });
    const ev = generateSynthetic({ shape, seed: `${config.seed + SYNTHETIC_EVAL_SEED}/eval` });
    return { source: `synthetic:${shape.join(',')}`, train, eval: ev };
  }
  const { file, key } = parseDatasetRef(d.path, d.rawKey);
  const depth = (await datasetInfo(file, key)).shape[0]!;
  const trainZ = d.trainZ ?? [0, depth];
  const labelsKey = opts.needLabels === false ? null : d.labelsKey;
  const train = await loadCropSource(file, key, labelsKey, trainZ);
  let ev: DataSplit['eval'] = null;
  if (d.evalZ) {
    const [a, b] = d.evalZ;
    if (a < trainZ[1] && trainZ[0] < b)
      throw new InputError(
        `data.evalZ [${a},${b}) overlaps data.trainZ [${trainZ[0]},${trainZ[1]}): evaluation must use held-out sections`,
      );
    const e = await loadCropSource(file, key, d.evalLabelsKey ?? d.labelsKey, d.evalZ);
    ev = { raw: e.raw, labels: e.labels! };
  }
  return { source: file, train, eval: ev };
}

import type { Config } from '../core/config.js';
import { Rng } from '../core/rng.js';
import { CropSampler, loadCropSource } from '../data/crop-sampler.js';
import { parseDatasetRef } from '../data/hdf5.js';
import { generateSynthetic } from '../data/synthetic.js';
import type { CropBatch } from '../data/types.js';

/*
 * What the masking env needs from its data: `sample(n)` random crops. `reset({seed})` makes the crops a
 * function of the seed when the source can be reseeded: either a `reseed(seed)` method or the
 * CropSampler's `setState` of its position and augmentation streams.
 */

/** A source of random crops (`CropSampler` is one). */
export interface CropSourceLike {
  /** `n` crops, struct-of-arrays. */
  sample(n: number): CropBatch;
  /** Restart the source's random streams from `seed` (optional). */
  reseed?(seed: number | string): void;
}

/** The CropSampler's state setter, used to reseed it. */
interface StreamStateful {
  setState(s: { positions: object; augment: object }): void;
}

/**
 * Restart `source`'s random streams from `seed`. Returns false when the source cannot be reseeded
 * (then its crops simply continue).
 */
export function reseedCropSource(source: CropSourceLike, seed: number | string): boolean {
  if (typeof source.reseed === 'function') {
    source.reseed(seed);
    return true;
  }
  const s = source as unknown as Partial<StreamStateful>;
  if (typeof s.setState === 'function') {
    // Same purpose names as CropSampler's constructor, so a reseeded sampler equals a fresh one.
    const root = Rng.fromSeed(seed);
    s.setState({
      positions: root.split('crop-positions').getState(),
      augment: root.split('crop-augment').getState(),
    });
    return true;
  }
  return false;
}

/**
 * The crop source a config describes: the HDF5 file `data.path` (training sections `data.trainZ`) or,
 * when the path is null, a synthetic volume of `data.syntheticShape` generated from the run seed.
 */
export async function cropSourceFromConfig(config: Config, rng: Rng): Promise<CropSampler> {
  const d = config.data;
  const src = d.path
    ? await (async () => {
        const { file, key } = parseDatasetRef(d.path!, d.rawKey);
        return loadCropSource(file, key, d.labelsKey, d.trainZ ?? undefined);
      })()
    : generateSynthetic({ shape: d.syntheticShape, seed: config.seed });
  return new CropSampler(src, { crop: config.model.crop, rng, augment: d.augment });
}

import { Rng } from '../core/rng.js';
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

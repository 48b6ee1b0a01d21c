import { InputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { AugmentOptions } from './augment.js';
import { CropSampler } from './crop-sampler.js';
import type { CropBatch, Shape3 } from './types.js';

/*
 * A label budget: training draws only from a fixed set of k labelled crops (cut once, e.g. per seed),
 * never from the rest of the volume. Each draw picks one crop of the pool uniformly, then cuts a `crop`
 * window from it (the whole crop when the sizes match) with the usual augmentation.
 */

/** Options of {@link CropPoolSampler}. */
export interface CropPoolOptions {
  /** Window cut from a pooled crop (at most the pooled crops' shape). */
  crop: Shape3;
  rng: Rng;
  augment?: boolean;
  augmentOptions?: AugmentOptions;
  /** Voxel size (z, y, x) in nm of the crops. */
  resolution: Shape3;
}

/** Draws training crops from a fixed pool of labelled crops (same `sample` contract as CropSampler). */
export class CropPoolSampler {
  readonly crop: Shape3;
  readonly size: number;
  private readonly samplers: CropSampler[];
  private readonly pick: Rng;

  constructor(pool: CropBatch, opts: CropPoolOptions) {
    if (!pool.labels) throw new InputError('crop pool: the pooled crops have no labels', 'no-labels');
    if (pool.n < 1) throw new InputError('crop pool: no crops (a label budget needs at least one)', 'empty');
    const vox = pool.shape[0] * pool.shape[1] * pool.shape[2];
    this.crop = [...opts.crop];
    this.size = pool.n;
    this.samplers = Array.from({ length: pool.n }, (_, i) => {
      const raw = pool.raw.subarray(i * vox, (i + 1) * vox);
      const labels = pool.labels!.subarray(i * vox, (i + 1) * vox);
      return new CropSampler(
        {
          raw: { data: raw, shape: [...pool.shape], resolution: opts.resolution },
          labels: { data: labels, shape: [...pool.shape], resolution: opts.resolution },
        },
        {
          crop: opts.crop,
          rng: opts.rng.split(`pool-crop-${i}`),
          ...(opts.augment !== undefined ? { augment: opts.augment } : {}),
          ...(opts.augmentOptions ? { augmentOptions: opts.augmentOptions } : {}),
        },
      );
    });
    this.pick = opts.rng.split('pool-pick');
  }

  /** `n` crops, each from a uniformly picked crop of the pool. */
  sample(n: number): CropBatch {
    const vox = this.crop[0] * this.crop[1] * this.crop[2];
    const raw = new Float32Array(n * vox);
    const labels = new Uint32Array(n * vox);
    for (let b = 0; b < n; b++) {
      const one = this.samplers[this.pick.int(this.size)]!.sample(1);
      raw.set(one.raw, b * vox);
      labels.set(one.labels!, b * vox);
    }
    return { n, shape: [...this.crop], raw, labels };
  }
}

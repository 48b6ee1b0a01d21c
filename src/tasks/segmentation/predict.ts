import { InputError } from '../../core/errors.js';
import { writeDatasets } from '../../data/hdf5.js';
import type { RawVolume, Shape3 } from '../../data/types.js';
import { slidingWindowPredict } from './sliding-window.js';

/*
 * Whole-volume affinity prediction: the affinity network runs on overlapping windows of its crop size
 * and the windows are blended smoothly (slidingWindowPredict; it also pads volumes smaller than a
 * window). The result is `[3, D, H, W]` float32 (z, y, x affinities in [0, 1]), written to HDF5 under
 * `volumes/predictions/affinities` with the raw volume's resolution.
 */

/** HDF5 key of predicted affinities. */
export const AFFINITIES_KEY = 'volumes/predictions/affinities';

/** What whole-volume prediction needs from a model: its window and a batched forward pass. */
export interface AffinityPredictor {
  /** Input window (z, y, x) the model was built for. */
  readonly crop: Shape3;
  /** Affinities `[n, 3, d, h, w]` in [0, 1] of `n` windows `[n, d, h, w]`. */
  predict(raw: Float32Array, batch: number): Float32Array;
}

/** Options of {@link predictAffinities}. */
export interface PredictOptions {
  /** Overlap of neighbouring windows on each axis, in [0, 0.9]. Default 0.5. */
  overlap?: number;
  /** Windows per forward pass. Default 4. */
  batch?: number;
  /** Called after each batch of windows with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Predict the affinities of a whole raw volume of any size.
 * @returns `[3, D, H, W]` float32 in [0, 1]
 */
export async function predictAffinities(
  model: AffinityPredictor,
  raw: RawVolume,
  opts: PredictOptions = {},
): Promise<Float32Array> {
  const [D, H, W] = raw.shape;
  if (raw.data.length !== D * H * W)
    throw new InputError(
      `predict: raw volume has ${raw.data.length} voxels, shape [${raw.shape}] needs ${D * H * W}`,
    );
  return slidingWindowPredict(raw.data, raw.shape, (windows, n) => model.predict(windows, n), {
    window: model.crop,
    channels: 3,
    overlap: opts.overlap ?? 0.5,
    batch: opts.batch ?? 4,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
}

/**
 * Write affinities `[3, D, H, W]` to a new HDF5 file (atomically) under {@link AFFINITIES_KEY}, float32,
 * with the `resolution` attribute (z, y, x in nm) and, when given, `offset` (z, y, x in nm, CREMI style:
 * where the volume starts in the source when only some sections were predicted).
 */
export async function writeAffinities(
  file: string,
  affinities: Float32Array,
  shape: Shape3,
  resolution: Shape3,
  offset?: Shape3,
): Promise<void> {
  const n = 3 * shape[0] * shape[1] * shape[2];
  if (affinities.length !== n)
    throw new InputError(
      `affinities to write into ${file}: ${affinities.length} values, shape [3,${shape}] needs ${n}`,
    );
  await writeDatasets(file, [
    {
      key: AFFINITIES_KEY,
      data: affinities,
      shape: [3, ...shape],
      dtype: 'float32',
      attrs: { resolution: [...resolution], ...(offset ? { offset: [...offset] } : {}) },
    },
  ]);
}

import { InputError } from '../../core/errors.js';
import { DEFAULT_RESOLUTION, datasetInfo, openBlockWriter, readRaw } from '../../data/hdf5.js';
import type { RawVolume, Shape3 } from '../../data/types.js';
import { testTimeAugmented } from './test-time-augment.js';
import { slidingWindowPredict, slidingWindowStream, type SlidingWindowOptions } from './sliding-window.js';

/*
 * Whole-volume affinity prediction: the affinity network runs on overlapping windows of its crop size
 * and the windows are blended smoothly (slidingWindowPredict; it also pads volumes smaller than a
 * window). The result is `[3, D, H, W]` float32 (z, y, x affinities in [0, 1]), written to HDF5 under
 * `volumes/predictions/affinities` with the raw volume's resolution. `predictAffinitiesToFile` streams:
 * it reads the raw volume and writes the affinities block by block, so its memory does not grow with
 * the volume. Optional test-time augmentation averages each window over its in-plane symmetries.
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
  /** In-plane tile (voxels) of the streaming pass: bounds memory. Default 512. */
  tile?: number;
  /**
   * Average each window's affinities over the 8 in-plane symmetries of the square (8x the forward
   * passes; see {@link testTimeAugmented}). Default false.
   */
  testTimeAugment?: boolean;
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
  const m = opts.testTimeAugment ? testTimeAugmented(model) : model;
  return slidingWindowPredict(
    raw.data,
    raw.shape,
    (windows, n) => m.predict(windows, n),
    windowOptions(model, opts),
  );
}

/** The sliding-window options both prediction paths use: the model's crop as window, 3 channels. */
function windowOptions(model: AffinityPredictor, opts: PredictOptions): SlidingWindowOptions {
  return {
    window: model.crop,
    channels: 3,
    overlap: opts.overlap ?? 0.5,
    batch: opts.batch ?? 4,
    ...(opts.tile !== undefined ? { tile: opts.tile } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
}

/** Raw EM to predict from: an HDF5 file or Zarr store, the dataset key, optionally sections [z0, z1). */
export interface RawSource {
  file: string;
  key: string;
  z?: [number, number];
}

/**
 * Predict the affinities of a raw volume on disk into a new HDF5 file (atomically) under
 * {@link AFFINITIES_KEY}, as {@link predictAffinities} would compute them (the same values), streaming:
 * raw blocks are read as the windows need them and finished blocks written at once (chunks of one
 * section of one tile), so peak memory depends on the model, window and tile, not on the volume.
 * Attributes: `resolution` (z, y, x in nm), and `offset` (nm, CREMI style) when `z` starts past 0.
 * @returns the shape and resolution of what was predicted
 */
export async function predictAffinitiesToFile(
  model: AffinityPredictor,
  src: RawSource,
  out: string,
  opts: PredictOptions = {},
): Promise<{ shape: Shape3; resolution: Shape3 }> {
  const info = await datasetInfo(src.file, src.key);
  if (info.shape.length !== 3)
    throw new InputError(
      `predict: dataset ${src.file}:${src.key} has shape [${info.shape}]; expected a 3D volume (z, y, x)`,
    );
  const [fullD, H, W] = info.shape as [number, number, number];
  const [z0, z1] = src.z ?? [0, fullD];
  if (!(Number.isInteger(z0) && Number.isInteger(z1) && 0 <= z0 && z0 < z1 && z1 <= fullD))
    throw new InputError(
      `predict: sections [${z0}, ${z1}) are outside volume [${info.shape}] of ${src.file}:${src.key}`,
    );
  const shape: Shape3 = [z1 - z0, H, W];
  const resolution = (info.resolution?.length === 3 ? info.resolution : DEFAULT_RESOLUTION) as Shape3;
  const tile = opts.tile ?? 512;
  const m = opts.testTimeAugment ? testTimeAugmented(model) : model;
  const writer = await openBlockWriter(out, {
    key: AFFINITIES_KEY,
    shape: [3, ...shape],
    dtype: 'float32',
    chunks: [1, 1, tile, tile],
    attrs: { resolution: [...resolution], ...(z0 > 0 ? { offset: [z0 * resolution[0], 0, 0] } : {}) },
  });
  try {
    await slidingWindowStream(
      shape,
      async ({ offset, size }) =>
        (await readRaw(src.file, src.key, { offset: [offset[0] + z0, offset[1], offset[2]], size })).data,
      (windows, n) => m.predict(windows, n),
      ({ offset, size }, data) => writer.write([0, ...offset], [3, ...size], data),
      { ...windowOptions(model, opts), tile },
    );
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return { shape, resolution };
}

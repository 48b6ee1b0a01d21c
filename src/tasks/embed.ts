import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../core/config.js';
import { CheckpointError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { DEFAULT_RAW_KEY, readRaw } from '../data/hdf5.js';
import type { Shape3 } from '../data/types.js';
import { assignVariables } from '../models/checkpoint.js';
import { ParamStore } from '../models/params.js';
import { VitEncoder } from '../models/vit-encoder.js';
import { encoderFromDir } from './segmentation/encoder-source.js';

/*
 * A pretrained encoder on its own: load it from any checkpoint that holds `encoder/...` weights and a
 * model config (MIM model, pretraining run, affinity network) and turn one crop into tokens. This is what
 * `dbmim embed` writes, and what the exported PyTorch module must reproduce.
 */

/** An encoder with its weights loaded; dispose when done. */
export interface LoadedEncoder {
  encoder: VitEncoder;
  config: ModelConfig;
  /** Checkpoint directory the weights came from. */
  source: string;
  dispose(): void;
}

/** Build the encoder of a checkpoint (or run) directory with its weights. */
export function loadEncoder(dir: string): LoadedEncoder {
  const w = encoderFromDir(dir);
  if (!w.model)
    throw new CheckpointError(`checkpoint ${w.source}: no model config, cannot rebuild the encoder`);
  const params = new ParamStore(Rng.fromSeed(0).split('init'));
  const encoder = new VitEncoder(params.scope('encoder'), w.model);
  const dispose = (): void => {
    encoder.dispose();
    params.dispose();
  };
  try {
    assignVariables(
      w.checkpoint,
      params.list('encoder/').map((p) => ({ name: p.name, variable: p.variable })),
      { dir: w.source },
    );
  } catch (e) {
    dispose();
    throw e;
  }
  return { encoder, config: w.model, source: w.source, dispose };
}

/** Final encoder tokens of one crop (`raw` in [0, 1], the model's crop shape): `[numPatches * embedDim]`. */
export function embedCrop(enc: VitEncoder, raw: Float32Array): Float32Array {
  const g = enc.grid;
  g.checkRaw(raw, 1);
  const out = tf.tidy(() => {
    const patches = tf.tensor2d(g.patchify(raw, 1), [g.numPatches, g.patchVoxels]);
    const x = tf.add(enc.project(patches), enc.pos) as tf.Tensor2D;
    return enc.run(x, 1, g.numPatches, null).out;
  });
  try {
    return Float32Array.from(out.dataSync());
  } finally {
    out.dispose();
  }
}

/** Tokens of the crop at `offset` (z, y, x) of a raw volume, the crop size being the encoder's. */
export async function embedRegion(
  enc: LoadedEncoder,
  file: string,
  key: string = DEFAULT_RAW_KEY,
  offset: Shape3,
): Promise<{ tokens: Float32Array; shape: [number, number] }> {
  const raw = await readRaw(file, key, { offset, size: [...enc.config.crop] });
  const tokens = embedCrop(enc.encoder, raw.data);
  return { tokens, shape: [enc.encoder.grid.numPatches, enc.config.embedDim] };
}

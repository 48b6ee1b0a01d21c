import { ConfigError, InputError } from '../../core/errors.js';
import { batchAffinities, batchBoundary } from '../../data/affinities.js';
import type { CropBatch } from '../../data/types.js';

/*
 * The finetuning objective on the 3 nearest-neighbour affinities (z, y, x): MSE on probabilities or
 * binary cross-entropy, optionally weighted per voxel (membrane-aware: boundary voxels count
 * 1 + boundaryWeight) and per channel (z affinities are often harder on anisotropic stacks).
 * Targets and weights are built here in plain JS from the crop labels; the loss itself is one tf function
 * (models/affinity-loss.ts) that training and validation both evaluate. Shapes are `[n, 3, d, h, w]`
 * flattened, sample-major, channel next.
 */

export type { AffinityLossKind } from '../../models/affinity-loss.js';

/** Options of {@link affinityTargets}. */
export interface AffinityTargetOptions {
  /** Extra weight on boundary voxels: weight = 1 + boundaryWeight where the label boundary is 1. Default 0. */
  boundaryWeight?: number;
  /** Weight of each affinity channel (z, y, x). Default [1, 1, 1]. */
  channelWeights?: [number, number, number];
}

/** Targets and per-voxel weights of a labelled crop batch. */
export interface AffinityTargets {
  /** `[n, 3, d, h, w]` 0/1 affinities. */
  target: Float32Array;
  /** `[n, 3, d, h, w]` non-negative weights (mean 1 over the batch, so the loss scale does not move). */
  weight: Float32Array;
}

/**
 * Affinity targets (labelsToAffinities per crop) and loss weights of a crop batch. Weights are
 * normalized to mean 1 so turning boundary weighting on changes where the loss looks, not its scale
 * (and so the learning rate means the same thing with and without it).
 */
export function affinityTargets(batch: CropBatch, opts: AffinityTargetOptions = {}): AffinityTargets {
  if (!batch.labels) throw new InputError('finetune: the crop batch has no labels (affinities need labels)');
  const bw = opts.boundaryWeight ?? 0;
  const cw = opts.channelWeights ?? [1, 1, 1];
  if (!(bw >= 0)) throw new ConfigError(`finetune.boundaryWeight: got ${bw}, expected a number >= 0`);
  if (cw.length !== 3 || cw.some((w) => !(w >= 0)) || cw.every((w) => w === 0))
    throw new ConfigError(
      `finetune channel weights: got [${cw.join(',')}], expected 3 non-negative numbers, not all 0`,
    );
  const target = batchAffinities(batch); // [n, 3, d, h, w]
  const vox = batch.shape[0] * batch.shape[1] * batch.shape[2];
  const weight = new Float32Array(target.length);
  const boundary = bw > 0 ? batchBoundary(batch) : null; // [n, d, h, w]
  let sum = 0;
  for (let b = 0; b < batch.n; b++) {
    for (let c = 0; c < 3; c++) {
      const base = (b * 3 + c) * vox;
      for (let v = 0; v < vox; v++) {
        const w = cw[c]! * (boundary && boundary[b * vox + v] === 1 ? 1 + bw : 1);
        weight[base + v] = w;
        sum += w;
      }
    }
  }
  const scale = weight.length / sum;
  for (let i = 0; i < weight.length; i++) weight[i]! *= scale;
  return { target, weight };
}

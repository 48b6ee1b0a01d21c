import type * as tf from '@tensorflow/tfjs';
import type { Shape3 } from '../data/types.js';

/*
 * The contract between the MIM model (src/models) and its users (the masking env, the segmentation task).
 * Masks are per patch, 1 = masked, in patch-grid order (z slowest, x fastest).
 */

/** Result of one MIM training (or evaluation) step. */
export interface MimStepResult {
  /** Mean loss over masked patches (the optimized objective). */
  loss: number;
  /** Per-patch reconstruction loss `[batch * numPatches]` (masked patches; NaN-free, 0 for visible ones). */
  perPatchLoss: Float32Array;
  /** Realized mask ratio of the batch. */
  maskRatio: number;
}

/** A named weight tensor for checkpoints and encoder transfer. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** What the masking env needs from a MIM model (MimModel is one; tests use fakes). */
export interface MimModelLike {
  /** Crop shape (z, y, x) and patch shape. */
  readonly crop: Shape3;
  readonly patch: Shape3;
  /** Patch grid (z, y, x) and number of patches per crop. */
  readonly grid: Shape3;
  readonly numPatches: number;
  /** Width of the encoder tokens (= the patch embedding width). */
  readonly embedDim: number;
  /** Global step (number of optimizer updates done). */
  readonly step: number;
  /**
   * One optimizer update on `raw` (`[batch, d, h, w]` float32, C order) with per-sample patch masks
   * (`[batch * numPatches]`, 1 = masked). Returns the loss and per-patch losses of this update's forward pass.
   */
  trainStep(raw: Float32Array, batch: number, mask: Uint8Array): MimStepResult;
  /** The same loss without an update (held-out evaluation). */
  evaluate(raw: Float32Array, batch: number, mask: Uint8Array): MimStepResult;
  /** Patch projection + position embedding, no transformer: `[batch, numPatches, embedDim]` (caller disposes). */
  embedPatches(raw: Float32Array, batch: number): tf.Tensor3D;
  /** Encoder tokens without gradient: `[batch, numPatches, embedDim]` (caller disposes). */
  encode(raw: Float32Array, batch: number): tf.Tensor3D;
  /** All trainable weights by name (encoder weights prefixed `encoder/`). */
  namedWeights(): NamedTensor[];
  dispose(): void;
}

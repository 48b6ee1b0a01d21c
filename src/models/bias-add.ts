import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import { sumRows } from './reduce.js';

/*
 * Bias add over the last axis with its own backward: autodiff would reduce the bias gradient over the
 * leading axes with a transposing tf.sum; a ones-row matmul over `[rows, channels]` is much faster.
 */

const biasAddOp = customOp((x: tf.Tensor, b: tf.Tensor1D) => ({
  value: tf.add(x, b),
  gradFunc: (dy: tf.Tensor) => [dy, sumRows(tf.reshape(dy, [-1, b.shape[0]]) as tf.Tensor2D)],
}));

/** x + b over the last axis of any-rank x, with a fast bias gradient. */
export function biasAdd<T extends tf.Tensor>(x: T, b: tf.Tensor): T {
  return biasAddOp(x, b) as T;
}

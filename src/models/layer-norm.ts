import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';

/*
 * Layer normalization over the last axis of 2D activations, with a hand-written backward: autodiff would
 * reduce gamma/beta gradients with tf.sum over axis 0 (a slow transposing path in wasm) and record a dozen
 * small ops; here dgamma and dbeta are ones-row matmuls and dx is the closed form
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma.
 */

/** Epsilon inside the square root (MAE uses 1e-6). */
export const LAYER_NORM_EPS = 1e-6;

const layerNormOp = customOp(
  (x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const rstd = tf.rsqrt(tf.add(variance, LAYER_NORM_EPS)); // [rows, 1]
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gamma]);
    return {
      value: tf.add(tf.mul(xhat, gamma), beta),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xh, rs, g0] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const g = tf.mul(dy, g0);
        const mg = tf.mean(g, -1, true);
        const mgx = tf.mean(tf.mul(g, xh), -1, true);
        const dx = tf.mul(rs, tf.sub(tf.sub(g, mg), tf.mul(xh, mgx)));
        return [dx, sumRows(tf.mul(dy, xh) as tf.Tensor2D), sumRows(dy)];
      },
    };
  },
) as (x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor2D;

/** Functional layer norm: x `[rows, dim]`, gamma and beta `[dim]`. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  return layerNormOp(x, gamma as tf.Tensor1D, beta as tf.Tensor1D);
}

/** Layer norm weights: `g` (ones) and `b` (zeros), neither decayed. */
export class LayerNorm {
  readonly g: tf.Variable;
  readonly b: tf.Variable;

  constructor(scope: ParamScope, dim: number) {
    this.g = scope.add('g', [dim], { kind: 'ones' });
    this.b = scope.add('b', [dim], { kind: 'zeros' });
  }

  /** `[rows, dim] -> [rows, dim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(x, this.g, this.b);
  }
}

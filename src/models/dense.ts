import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';

/*
 * A linear layer on 2D activations `[rows, in] -> [rows, out]`. tfjs builds matMul's gradient from
 * transposed-flag matmuls, which run ~14x slower than plain ones in wasm; this backward uses explicit
 * transposes and plain matmuls instead: dX = dY · Wᵀ, dW = Xᵀ · dY, db = 1ᵀ · dY.
 */

type Saved = tf.Tensor[];

const denseWithBias = customOp((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor2D, saved: Saved) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy), sumRows(dy)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

const denseNoBias = customOp((x: tf.Tensor2D, w: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor2D, saved: Saved) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

// For inputs that are data (never trained): dX is returned as zeros instead of computing dY · Wᵀ.
// tfjs asks a custom op for every input's gradient, even one that leads to no variable.
const denseDataInput = customOp((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.fused.matMul({ a: x, b: w, bias: b }),
    gradFunc: (dy: tf.Tensor2D, saved: Saved) => {
      const [xs] = saved as [tf.Tensor2D];
      return [tf.zerosLike(xs), tf.matMul(tf.transpose(xs), dy), sumRows(dy)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * `x · w (+ b)` with the fast backward. x `[rows, in]`, w `[in, out]`, b `[out]`. `dataInput`: x is
 * input data whose gradient nobody uses (the patch embedding of raw voxels); its gradient is then zeros,
 * which saves the backward's largest matmul of that layer.
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor, dataInput = false): tf.Tensor2D {
  if (dataInput && b) return denseDataInput(x, w as tf.Tensor2D, b as tf.Tensor1D);
  return b ? denseWithBias(x, w as tf.Tensor2D, b as tf.Tensor1D) : denseNoBias(x, w as tf.Tensor2D);
}

/** Weights of a linear layer: `w` (Xavier, decayed) and `b` (zeros, not decayed). */
export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable | null;

  constructor(
    scope: ParamScope,
    readonly inDim: number,
    readonly outDim: number,
    opts: { bias?: boolean } = {},
  ) {
    this.w = scope.add('w', [inDim, outDim], { kind: 'xavier', fanIn: inDim, fanOut: outDim }, true);
    this.b = opts.bias === false ? null : scope.add('b', [outDim], { kind: 'zeros' });
  }

  /** `[rows, in] -> [rows, out]`; `dataInput`: x is data, its gradient is not needed (see {@link dense}). */
  apply(x: tf.Tensor2D, dataInput = false): tf.Tensor2D {
    return dense(x, this.w, this.b ?? undefined, dataInput);
  }

  /** Multiply-adds per row (for FLOP counts). */
  get macsPerRow(): number {
    return this.inDim * this.outDim;
  }
}

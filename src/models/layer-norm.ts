import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import { ensureJsKernel, type JsKernelFunc } from './js-kernel.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';

/*
 * Layer normalization over the last axis of 2D activations `[rows, dim]`, with a hand-written backward:
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, dgamma = column sums of
 * dy * xhat, dbeta = column sums of dy.
 *
 * Where the backend's memory is addressable from JS (wasm, cpu; js-kernel.ts) the forward and each
 * gradient are one JS loop over the rows: the op-by-op version is ~9 kernels forward and ~10 backward
 * on a `[128, 192]` block, each small kernel costing more in engine bookkeeping than in arithmetic, plus
 * a copy of every tensor its customGrad saves; the kernels save x and gamma as they are and recompute
 * the row statistics in the backward (one more pass over the row). Elsewhere (tensorflow) the op-by-op
 * version runs, which is also the tests' reference.
 */

/** Epsilon inside the square root (MAE uses 1e-6). */
export const LAYER_NORM_EPS = 1e-6;

const FORWARD = 'DbmimLayerNorm';
const BACKWARD = 'DbmimLayerNormGrad';

/** Mean and reciprocal standard deviation of row `r` (float64 sums). */
function rowStats(x: Float32Array, r: number, d: number, eps: number): [mean: number, rstd: number] {
  const o = r * d;
  let s = 0;
  for (let j = 0; j < d; j++) s += x[o + j]!;
  const mean = s / d;
  let v = 0;
  for (let j = 0; j < d; j++) {
    const c = x[o + j]! - mean;
    v += c * c;
  }
  return [mean, 1 / Math.sqrt(v / d + eps)];
}

const forwardKernel: JsKernelFunc = (inputs, attrs, mem) => {
  const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', tf.TensorInfo>;
  const eps = attrs.eps as number;
  const [rows, d] = x.shape as [number, number];
  const out = mem.output([rows, d]);
  const [xv, gv, bv, yv] = [x, gamma, beta, out].map((t) => mem.view(t)) as Float32Array[];
  for (let r = 0; r < rows; r++) {
    const [mean, rstd] = rowStats(xv!, r, d, eps);
    const o = r * d;
    for (let j = 0; j < d; j++) yv![o + j] = (xv![o + j]! - mean) * rstd * gv![j]! + bv![j]!;
  }
  return out;
};

/** One gradient (attr `part`): dx `[rows, dim]` or dgamma `[dim]`, from dy, x and gamma. */
const backwardKernel: JsKernelFunc = (inputs, attrs, mem) => {
  const { dy, x, gamma } = inputs as Record<'dy' | 'x' | 'gamma', tf.TensorInfo>;
  const eps = attrs.eps as number;
  const [rows, d] = x.shape as [number, number];
  const wantX = attrs.part === 'x';
  const out = mem.output(wantX ? [rows, d] : [d]);
  const [dyv, xv, gv, ov] = [dy, x, gamma, out].map((t) => mem.view(t)) as Float32Array[];
  const acc = wantX ? null : new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const [mean, rstd] = rowStats(xv!, r, d, eps);
    const o = r * d;
    if (acc) {
      for (let j = 0; j < d; j++) acc[j] += dyv![o + j]! * (xv![o + j]! - mean) * rstd;
      continue;
    }
    let mg = 0;
    let mgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dyv![o + j]! * gv![j]!;
      mg += g;
      mgx += g * (xv![o + j]! - mean) * rstd;
    }
    mg /= d;
    mgx /= d;
    for (let j = 0; j < d; j++) {
      const xh = (xv![o + j]! - mean) * rstd;
      ov![o + j] = rstd * (dyv![o + j]! * gv![j]! - mg - xh * mgx);
    }
  }
  if (acc) ov!.set(acc);
  return out;
};

tf.registerGradient({
  kernelName: FORWARD,
  inputsToSave: ['x', 'gamma'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = dy as tf.Tensor2D;
    const [x, gamma] = saved as [tf.Tensor2D, tf.Tensor1D];
    const grad = (part: 'x' | 'gamma') =>
      tf.engine().runKernel(BACKWARD, { dy: g, x, gamma }, { eps: LAYER_NORM_EPS, part }) as tf.Tensor;
    return { x: () => grad('x'), gamma: () => grad('gamma'), beta: () => sumRows(g) };
  },
});

/** The op-by-op layer norm (a customGrad): backends without JS kernels, and the tests' reference. */
export const layerNormOps = customOp(
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
  if (ensureJsKernel(FORWARD, forwardKernel) && ensureJsKernel(BACKWARD, backwardKernel))
    return tf.engine().runKernel(FORWARD, { x, gamma, beta }, { eps: LAYER_NORM_EPS }) as tf.Tensor2D;
  return layerNormOps(x, gamma as tf.Tensor1D, beta as tf.Tensor1D);
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

import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import { Dense } from './dense.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';

/*
 * 3-D convolution layers on channels-last volumes `[batch, d, h, w, channels]` (the layout tfjs's conv3d
 * kernels take). The bias add has its own backward: autodiff would reduce the bias gradient over four
 * leading axes with a transposing tf.sum; a ones-row matmul over `[voxels, channels]` is much faster.
 */

const biasAddOp = customOp((x: tf.Tensor, b: tf.Tensor1D) => ({
  value: tf.add(x, b),
  gradFunc: (dy: tf.Tensor) => [dy, sumRows(tf.reshape(dy, [-1, b.shape[0]]) as tf.Tensor2D)],
}));

/** x + b over the last axis of any-rank x, with a fast bias gradient. */
export function biasAdd<T extends tf.Tensor>(x: T, b: tf.Tensor): T {
  return biasAddOp(x, b) as T;
}

/** A 3-D convolution, 'same' padding, stride 1; weights `[k, k, k, in, out]` (He-uniform), bias `[out]`. */
export class Conv3d {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    scope: ParamScope,
    readonly inCh: number,
    readonly outCh: number,
    readonly kernel: number,
  ) {
    const fanIn = inCh * kernel ** 3;
    const fanOut = outCh * kernel ** 3;
    this.w = scope.add('w', [kernel, kernel, kernel, inCh, outCh], { kind: 'xavier', fanIn, fanOut }, true);
    this.b = scope.add('b', [outCh], { kind: 'zeros' });
  }

  /** `[b, d, h, w, in] -> [b, d, h, w, out]`. */
  apply(x: tf.Tensor5D): tf.Tensor5D {
    return biasAdd(tf.conv3d(x, this.w as tf.Tensor5D, 1, 'same'), this.b);
  }

  /** Multiply-adds per output voxel. */
  get macsPerVoxel(): number {
    return this.inCh * this.outCh * this.kernel ** 3;
  }
}

/**
 * Non-overlapping upsampling by `stride` (a transposed 3-D convolution with kernel = stride) written as a
 * dense layer plus a pixel shuffle: `[b, d, h, w, in] · W[in, sz*sy*sx*out]` then two 4-D transposes
 * that keep contiguous inner blocks (fast paths). tfjs's conv3dTranspose has no gradient and its wasm
 * kernel gave wrong values for anisotropic strides in our checks; this form avoids both.
 */
export class ConvTranspose3d {
  readonly dense: Dense;

  constructor(
    scope: ParamScope,
    readonly inCh: number,
    readonly outCh: number,
    readonly stride: [number, number, number],
  ) {
    const k = stride[0] * stride[1] * stride[2];
    // one bias per (kernel offset, channel): a superset of the per-channel conv bias
    this.dense = new Dense(scope, inCh, k * outCh);
  }

  /** `[b, d, h, w, in] -> [b, d*sz, h*sy, w*sx, out]`. */
  apply(x: tf.Tensor5D): tf.Tensor5D {
    const [b, d, h, w, c] = x.shape;
    const [sz, sy, sx] = this.stride;
    const co = this.outCh;
    const y = this.dense.apply(tf.reshape(x, [b * d * h * w, c]) as tf.Tensor2D); // [b*d*h*w, sz*sy*sx*co]
    // [b*d, h*w, sz, sy*sx*co] -> [b*d, sz, h*w, sy*sx*co]
    const t1 = tf.transpose(tf.reshape(y, [b * d, h * w, sz, sy * sx * co]), [0, 2, 1, 3]);
    // [b*d*sz*h, w, sy, sx*co] -> [b*d*sz*h, sy, w, sx*co]
    const t2 = tf.transpose(tf.reshape(t1, [b * d * sz * h, w, sy, sx * co]), [0, 2, 1, 3]);
    return tf.reshape(t2, [b, d * sz, h * sy, w * sx, co]) as tf.Tensor5D;
  }
}

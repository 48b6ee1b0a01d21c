import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
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
 * Transposed 3-D convolution with kernel = stride ('valid'), differentiable: tfjs has no gradient for
 * Conv3DBackpropInputV2, so the backward is written out. The op is the adjoint of
 * `c(y) = conv3d(y, w, stride, 'valid')`, hence dx = c(dy) and dw = filter gradient of c at input dy
 * with output gradient x.
 */
export function convTranspose3d(x: tf.Tensor5D, w: tf.Tensor, stride: [number, number, number]): tf.Tensor5D {
  const [b, d, h, wd] = x.shape;
  const outCh = w.shape[3]!;
  const outShape: [number, number, number, number, number] = [
    b,
    d * stride[0],
    h * stride[1],
    wd * stride[2],
    outCh,
  ];
  const op = customOp((xi: tf.Tensor5D, wi: tf.Tensor5D, save: tf.GradSaveFunc) => {
    save([xi, wi]);
    return {
      value: tf.conv3dTranspose(xi, wi, outShape, stride, 'valid'),
      gradFunc: (dy: tf.Tensor5D, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor5D, tf.Tensor5D];
        const dx = tf.conv3d(dy, ws, stride, 'valid');
        const dw = tf.engine().runKernel('Conv3DBackpropFilterV2', { x: dy, dy: xs }, {
          strides: stride,
          pad: 'valid',
          filterShape: ws.shape,
        } as never) as tf.Tensor;
        return [dx, dw];
      },
    };
  });
  return op(x, w) as tf.Tensor5D;
}

/**
 * A transposed 3-D convolution whose kernel equals its stride (non-overlapping upsampling by `stride`).
 * Weights `[sz, sy, sx, out, in]` (the tfjs conv3dTranspose layout), bias `[out]`.
 */
export class ConvTranspose3d {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    scope: ParamScope,
    readonly inCh: number,
    readonly outCh: number,
    readonly stride: [number, number, number],
  ) {
    const k = stride[0] * stride[1] * stride[2];
    this.w = scope.add(
      'w',
      [...stride, outCh, inCh],
      { kind: 'xavier', fanIn: inCh, fanOut: outCh * k },
      true,
    );
    this.b = scope.add('b', [outCh], { kind: 'zeros' });
  }

  /** `[b, d, h, w, in] -> [b, d*sz, h*sy, w*sx, out]`. */
  apply(x: tf.Tensor5D): tf.Tensor5D {
    return biasAdd(convTranspose3d(x, this.w, this.stride), this.b);
  }
}

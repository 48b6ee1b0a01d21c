import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.js';
import { biasAdd } from './bias-add.js';
import { customOp } from './custom-op.js';
import type { ParamScope } from './params.js';

/*
 * In-plane (y, x) convolution of a channels-last volume `[batch, d, h, w, c]`, section by section: the
 * natural kernel for anisotropic serial-section EM (50 nm sections, 4 nm pixels), where a 3x3x3 kernel
 * would mix sections 12x farther apart than its in-plane taps. The forward is tfjs's conv2d (XNNPACK in
 * wasm, fast); wasm has no Conv2DBackpropFilter kernel, so the backward is written here:
 *   dX = conv2d(dY, W rotated 180 degrees with in/out swapped)   ('same' padding, odd kernel)
 *   dW = correlation of X with dY                                 (one more conv2d, see filterGrad)
 */

type Saved = tf.Tensor[];

/**
 * dW of a 'same' k x k convolution as one more conv2d: the input with channels as the batch and the
 * images as channels (`[cin, h+2r, w+2r, n]`) correlated with dY as an `[h, w, n, cout]` filter
 * ('valid') gives `[cin, k, k, cout]`. XNNPACK runs it as one large GEMM: ~9x faster here than an
 * im2col (slices, a last-axis concat and a transpose) followed by a matmul.
 */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number): tf.Tensor4D {
  const r = (k - 1) / 2;
  const xp = tf.pad(x, [
    [0, 0],
    [r, r],
    [r, r],
    [0, 0],
  ]);
  const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, h+2r, w+2r, n]
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [h, w, n, cout]
  const g = tf.conv2d(xt, dyt, 1, 'valid'); // [cin, k, k, cout]
  return tf.transpose(g, [1, 2, 0, 3]); // [k, k, cin, cout]
}

/** A k x k 'same' conv2d `[n, h, w, in] · [k, k, in, out]` with the backward above (wasm has none). */
export const conv2dSame = customOp((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy: tf.Tensor4D, saved: Saved) => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const k = ws.shape[0];
      const wRot = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]); // [k, k, cout, cin]
      const dx = tf.conv2d(dy, wRot as tf.Tensor4D, 1, 'same');
      return [dx, filterGrad(xs, dy, k)];
    },
  };
}) as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

/** A k x k in-plane convolution, 'same' padding, stride 1; weights `[k, k, in, out]`, bias `[out]`. */
export class ConvInPlane {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    scope: ParamScope,
    readonly inCh: number,
    readonly outCh: number,
    readonly kernel: number,
  ) {
    if (kernel % 2 !== 1) throw new ConfigError(`in-plane conv: kernel must be odd, got ${kernel}`);
    const fanIn = inCh * kernel ** 2;
    const fanOut = outCh * kernel ** 2;
    this.w = scope.add('w', [kernel, kernel, inCh, outCh], { kind: 'xavier', fanIn, fanOut }, true);
    this.b = scope.add('b', [outCh], { kind: 'zeros' });
  }

  /** `[b, d, h, w, in] -> [b, d, h, w, out]`, each section on its own. */
  apply(x: tf.Tensor5D): tf.Tensor5D {
    const [b, d, h, w, c] = x.shape;
    const x4 = tf.reshape(x, [b * d, h, w, c]) as tf.Tensor4D; // sections as a batch
    const y = biasAdd(conv2dSame(x4, this.w as tf.Tensor4D), this.b);
    return tf.reshape(y, [b, d, h, w, this.outCh]) as tf.Tensor5D;
  }

  /** Multiply-adds per output voxel. */
  get macsPerVoxel(): number {
    return this.inCh * this.outCh * this.kernel ** 2;
  }
}

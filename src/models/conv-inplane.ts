import * as tf from '@tensorflow/tfjs';
import { biasAdd } from './conv3d.js';
import { customOp } from './custom-op.js';
import type { ParamScope } from './params.js';

/*
 * In-plane (y, x) convolution of a channels-last volume `[batch, d, h, w, c]`, section by section: the
 * natural kernel for anisotropic serial-section EM (50 nm sections, 4 nm pixels), where a 3x3x3 kernel
 * would mix sections 12x farther apart than its in-plane taps. The forward is tfjs's conv2d (XNNPACK in
 * wasm, fast); wasm has no Conv2DBackpropFilter kernel, so the backward is written here:
 *   dX = conv2d(dY, W rotated 180 degrees with in/out swapped)   ('same' padding, odd kernel)
 *   dW = im2col(X)ᵀ · dY                                          (one plain matmul)
 */

type Saved = tf.Tensor[];

/** `[n, h, w, cin]` -> `[n*h*w, k*k*cin]`: the k x k neighbourhood of each pixel ('same' zero padding). */
function im2col(x: tf.Tensor4D, k: number): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const r = (k - 1) / 2;
  const xp = tf.pad(x, [
    [0, 0],
    [r, r],
    [r, r],
    [0, 0],
  ]);
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) taps.push(tf.slice(xp, [0, i, j, 0], [n, h, w, c]));
  return tf.reshape(tf.concat(taps, 3), [n * h * w, k * k * c]); // tap-major, channel minor = W's layout
}

const conv2dSame = customOp((x: tf.Tensor4D, w: tf.Tensor4D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy: tf.Tensor4D, saved: Saved) => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [k, , cin, cout] = ws.shape;
      const wRot = tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]); // [k, k, cout, cin]
      const dx = tf.conv2d(dy, wRot as tf.Tensor4D, 1, 'same');
      const cols = im2col(xs, k); // [n*h*w, k*k*cin]
      const dy2 = tf.reshape(dy, [-1, cout]); // [n*h*w, cout]
      const dw = tf.reshape(tf.matMul(tf.transpose(cols), dy2), [k, k, cin, cout]);
      return [dx, dw];
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
    if (kernel % 2 !== 1) throw new Error(`in-plane conv: kernel must be odd, got ${kernel}`);
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

import * as tf from '@tensorflow/tfjs';
import { conv2dSame } from './conv-inplane.js';
import { Dense } from './dense.js';
import { ensureJsKernel, type JsKernelFunc } from './js-kernel.js';
import { swapMiddle } from './swap-middle.js';
import type { ParamScope } from './params.js';

/*
 * 3-D convolution layers on channels-last volumes `[batch, d, h, w, channels]` (the layout tfjs's conv3d
 * kernels take).
 */

const ZSTACK = 'DbmimZStack';
const ZSTACK_GRAD = 'DbmimZStackGrad';

/**
 * The k z-shifted copies of x `[b, d, h, w, c]` as channels, `[b, d, h, w, k*c]`, channel kz*c + ci
 * holding x[z + kz - r, ci] (zero beyond the ends); `adjoint` sums the shifts back (its gradient).
 */
function zStackLoop(
  src: Float32Array,
  dst: Float32Array,
  shape: number[],
  k: number,
  adjoint: boolean,
): void {
  const [b, d, h, w, c] = shape as [number, number, number, number, number];
  const r = (k - 1) / 2;
  const plane = h * w;
  const kc = k * c;
  if (adjoint) dst.fill(0);
  for (let n = 0; n < b; n++)
    for (let z = 0; z < d; z++)
      for (let kz = 0; kz < k; kz++) {
        const zs = z + kz - r;
        let s = ((n * d + z) * plane * k + kz) * c; // the stack's first pixel, channel kz*c
        if (zs < 0 || zs >= d) {
          if (!adjoint)
            for (let p = 0; p < plane; p++, s += kc) for (let ci = 0; ci < c; ci++) dst[s + ci] = 0;
          continue;
        }
        let o = (n * d + zs) * plane * c; // the shifted section's first pixel
        if (c === 1 && !adjoint) {
          // one channel (the raw branch): no inner loop, about twice as fast
          for (let p = 0; p < plane; p++, s += kc) dst[s] = src[o + p]!;
          continue;
        }
        if (adjoint)
          for (let p = 0; p < plane; p++, s += kc, o += c)
            for (let ci = 0; ci < c; ci++) dst[o + ci]! += src[s + ci]!;
        else
          for (let p = 0; p < plane; p++, s += kc, o += c)
            for (let ci = 0; ci < c; ci++) dst[s + ci] = src[o + ci]!;
      }
}

// kernel bodies read every size from their inputs and attrs: they are registered once, for all calls
const zStackKernel: JsKernelFunc = ({ x }, attrs, mem) => {
  const k = attrs.k as number;
  const out = mem.output([...x!.shape.slice(0, 4), k * x!.shape[4]!]);
  zStackLoop(mem.view(x!), mem.view(out), x!.shape, k, false);
  return out;
};

const zStackGradKernel: JsKernelFunc = ({ dy }, attrs, mem) => {
  const k = attrs.k as number;
  const shape = [...dy!.shape.slice(0, 4), dy!.shape[4]! / k];
  const out = mem.output(shape);
  zStackLoop(mem.view(dy!), mem.view(out), shape, k, true);
  return out;
};

tf.registerGradient({
  kernelName: ZSTACK,
  gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
    x: () => tf.engine().runKernel(ZSTACK_GRAD, { dy: dy as tf.Tensor }, attrs) as tf.Tensor,
  }),
});

/**
 * {@link zStackLoop} as a kernel (with its adjoint as the gradient) where JS can address the backend's
 * memory: one pass that writes the stack in place. The op form (a pad, k slices, a stack and a
 * transpose) costs ~5 ms a step in wasm, whose Slice copies its whole input out of the heap each time.
 */
function zStack(x: tf.Tensor5D, k: number): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const js =
    x.dtype === 'float32' &&
    ensureJsKernel(ZSTACK, zStackKernel) &&
    ensureJsKernel(ZSTACK_GRAD, zStackGradKernel);
  if (js) return tf.engine().runKernel(ZSTACK, { x }, { k }) as tf.Tensor5D;
  const r = (k - 1) / 2;
  const v = h * w * c;
  // rank-3 pads and slices (wasm's rank-5 ones are slow); z is the middle axis
  const xp = tf.pad(tf.reshape(x, [b, d, v]), [
    [0, 0],
    [r, r],
    [0, 0],
  ]); // [b, d+2r, h*w*c]
  const shifted = Array.from({ length: k }, (_, kz) => tf.slice(xp, [0, kz, 0], [b, d, v]));
  // [b, k, d*h*w, c] -> [b, d*h*w, k, c]
  return tf.reshape(tf.transpose(tf.reshape(tf.stack(shifted, 1), [b, k, d * h * w, c]), [0, 2, 1, 3]), [
    b,
    d,
    h,
    w,
    k * c,
  ]) as tf.Tensor5D;
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

  /**
   * `[b, d, h, w, in] -> [b, d, h, w, out]`. Computed as one in-plane conv2d of the k z-shifted copies of
   * the input stacked as channels (zero beyond the volume's ends, as 'same' pads): the same sums as a
   * 3-D conv, but wasm's Conv3D is a naive loop (and its filter gradient another), ~4x slower here
   * even for one input channel, while conv2d runs on XNNPACK. `relu`: `relu(conv(x))`, fused.
   */
  apply(x: tf.Tensor5D, opts: { relu?: boolean } = {}): tf.Tensor5D {
    const [b, d, h, w, c] = x.shape;
    const k = this.kernel;
    const stacked = tf.reshape(zStack(x, k), [b * d, h, w, k * c]) as tf.Tensor4D;
    // [kz, ky, kx, in, out] -> [ky, kx, kz, in, out] -> [ky, kx, kz*in, out]
    const w2 = tf.reshape(tf.transpose(this.w, [1, 2, 0, 3, 4]), [k, k, k * c, this.outCh]) as tf.Tensor4D;
    const y = conv2dSame(stacked, w2, this.b as tf.Tensor1D, opts.relu === true); // [b*d, h, w, out]
    return tf.reshape(y, [b, d, h, w, this.outCh]) as tf.Tensor5D;
  }

  /** Multiply-adds per output voxel. */
  get macsPerVoxel(): number {
    return this.inCh * this.outCh * this.kernel ** 3;
  }
}

/**
 * Non-overlapping upsampling by `stride` (a transposed 3-D convolution with kernel = stride) written as a
 * dense layer plus a pixel shuffle: `[b, d, h, w, in] · W[in, sz*sy*sx*out]` then two swaps of middle
 * axes that keep contiguous inner blocks (swap-middle.ts). tfjs's conv3dTranspose has no gradient and its wasm
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
    // a transpose that moves an axis of length 1 only copies: skipped (stride 1 on that axis)
    const swap12 = (t: tf.Tensor, shape: [number, number, number, number]) =>
      shape[2] === 1 ? t : swapMiddle(tf.reshape(t, shape) as tf.Tensor4D);
    // [b*d, h*w, sz, sy*sx*co] -> [b*d, sz, h*w, sy*sx*co]
    const t1 = swap12(y, [b * d, h * w, sz, sy * sx * co]);
    // [b*d*sz*h, w, sy, sx*co] -> [b*d*sz*h, sy, w, sx*co]
    const t2 = swap12(t1, [b * d * sz * h, w, sy, sx * co]);
    return tf.reshape(t2, [b, d * sz, h * sy, w * sx, co]) as tf.Tensor5D;
  }
}

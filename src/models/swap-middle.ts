import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, type SimdKernelFunc } from './wasm-simd.js';

/*
 * `[a, b, c, d] -> [a, c, b, d]`: the pixel shuffle of the transposed convs (conv3d.ts), forward and
 * backward (the op is its own adjoint with b and c exchanged). wasm's Transpose moves one float at a
 * time; here blocks of d contiguous floats are copied 4 at a time (wasm-simd.ts, swapMiddleFunc). Other
 * backends, and d not a multiple of 4, take tf.transpose.
 */

const KERNEL = 'DbmimSwapMiddle';

const kernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const [a, b, c, d] = x.shape as [number, number, number, number];
  const out = heap.output([a, c, b, d]);
  loops.swapmid(heap.offset(x), heap.offset(out), a, b, c, 4 * d);
  return out;
};

tf.registerGradient({
  kernelName: KERNEL,
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => ({ x: () => swapMiddle(dy as tf.Tensor4D) }),
});

/** `x` `[a, b, c, d]` with its middle axes swapped: `[a, c, b, d]`, as `tf.transpose(x, [0, 2, 1, 3])`. */
export function swapMiddle(x: tf.Tensor4D): tf.Tensor4D {
  const d = x.shape[3];
  if (x.size > 0 && d % 4 === 0 && x.dtype === 'float32' && ensureSimdKernel(KERNEL, kernel))
    return tf.engine().runKernel(KERNEL, { x }) as tf.Tensor4D;
  return tf.transpose(x, [0, 2, 1, 3]);
}

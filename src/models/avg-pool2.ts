import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';
import { ensureSimdKernel, type SimdKernelFunc } from './wasm-simd.js';

/*
 * 2x2 in-plane average pool (stride 2) of `[n, h, w, c]` with even h and w, with its own backward:
 * wasm's AvgPoolGrad is a naive loop (~10x the forward at full resolution); the gradient of a
 * non-overlapping 2x2 mean is dY / 4 copied to each pixel of its window, a nearest-neighbour upsampling.
 * On wasm with c a multiple of 4 both directions are one SIMD loop (wasm-simd.ts, pool2Func) registered
 * as a kernel with its gradient: the tfjs forms (AvgPool; Multiply then ResizeNearestNeighbor) cost
 * ~4 ms a step at the U-Net's sizes. Elsewhere, tfjs's ops.
 */

const KERNEL = 'DbmimAvgPool2';
const GRAD = 'DbmimAvgPool2Grad';

const kernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const out = heap.output([n, h / 2, w / 2, c]);
  loops.pool2(heap.offset(x), heap.offset(out), (n * h) / 2, w / 2, 4 * c, 0);
  return out;
};

const gradKernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { dy } = inputs as { dy: tf.TensorInfo };
  const [n, ho, wo, c] = dy.shape as [number, number, number, number];
  const out = heap.output([n, 2 * ho, 2 * wo, c]);
  loops.pool2(heap.offset(dy), heap.offset(out), n * ho, wo, 4 * c, 1);
  return out;
};

tf.registerGradient({
  kernelName: KERNEL,
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => ({
    x: () => tf.engine().runKernel(GRAD, { dy: dy as tf.Tensor }) as tf.Tensor,
  }),
});

const avgPool2Op = customOp((x: tf.Tensor4D) => ({
  value: tf.avgPool(x, 2, 2, 'valid'),
  gradFunc: (dy: tf.Tensor4D) => [
    tf.image.resizeNearestNeighbor(tf.mul(dy, 0.25) as tf.Tensor4D, [x.shape[1], x.shape[2]]),
  ],
}));

/** 2x2 average pool with stride 2 of `[n, h, w, c]` (h, w even) -> `[n, h/2, w/2, c]`, fast backward. */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const c = x.shape[3];
  if (
    x.size > 0 &&
    c % 4 === 0 &&
    x.dtype === 'float32' &&
    ensureSimdKernel(KERNEL, kernel) &&
    ensureSimdKernel(GRAD, gradKernel)
  )
    return tf.engine().runKernel(KERNEL, { x }) as tf.Tensor4D;
  return avgPool2Op(x) as tf.Tensor4D;
}

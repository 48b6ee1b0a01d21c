import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';

/*
 * 2x2 in-plane average pool (stride 2) of `[n, h, w, c]` with even h and w, with its own backward:
 * wasm's AvgPoolGrad is a naive loop (~10x the forward at full resolution); the gradient of a
 * non-overlapping 2x2 mean is dY / 4 copied to each pixel of its window, a nearest-neighbour upsampling.
 */

const avgPool2Op = customOp((x: tf.Tensor4D) => ({
  value: tf.avgPool(x, 2, 2, 'valid'),
  gradFunc: (dy: tf.Tensor4D) => [
    tf.image.resizeNearestNeighbor(tf.mul(dy, 0.25) as tf.Tensor4D, [x.shape[1], x.shape[2]]),
  ],
}));

/** 2x2 average pool with stride 2 of `[n, h, w, c]` (h, w even) -> `[n, h/2, w/2, c]`, fast backward. */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  return avgPool2Op(x) as tf.Tensor4D;
}

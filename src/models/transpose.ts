import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, TRANSPOSE_TILE, type SimdKernelFunc } from './wasm-simd.js';

/*
 * 2-D transpose for the hand-written backwards (dense.ts: Wᵀ and Xᵀ every step). wasm's Transpose
 * walks whole rows and slows down 5-10x on shapes such as 768x192 or 512x512 (its writes stride through
 * memory); the tiled loop of wasm-simd.ts copies 16x16 tiles. Sides that are not multiples of the tile,
 * and other backends, take tf.transpose. No gradient of its own: it runs inside backwards.
 */

const KERNEL = 'DbmimTranspose2D';

const kernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const [rows, cols] = x.shape as [number, number];
  const out = heap.output([cols, rows]);
  loops.transpose(heap.offset(x), heap.offset(out), rows, cols);
  return out;
};

/** `xᵀ` of a 2-D tensor. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  // the loop runs at least one tile: empty sides go to tf.transpose
  const tiled = rows > 0 && cols > 0 && rows % TRANSPOSE_TILE === 0 && cols % TRANSPOSE_TILE === 0;
  if (tiled && x.dtype === 'float32' && ensureSimdKernel(KERNEL, kernel))
    return tf.engine().runKernel(KERNEL, { x }) as tf.Tensor2D;
  return tf.transpose(x);
}

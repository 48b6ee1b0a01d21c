import * as tf from '@tensorflow/tfjs';
import { TRANSPOSE_TILE, wasmSimd } from './wasm-simd.js';

/*
 * 2-D transpose for the hand-written backwards (dense.ts: Wᵀ and Xᵀ every step). wasm's Transpose
 * walks whole rows and slows down 5-10x on shapes such as 768x192 or 512x512 (its writes stride through
 * memory); the tiled loop of wasm-simd.ts copies 16x16 tiles. Sides that are not multiples of the tile,
 * and other backends, take tf.transpose. No gradient of its own: it runs inside backwards.
 */

const KERNEL = 'DbmimTranspose2D';

type Heap = {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
};

/** Register the wasm kernel (once); false when the wasm loops are unavailable. */
function ensureKernel(): boolean {
  const loops = wasmSimd();
  if (!loops) return false;
  if (tf.getKernel(KERNEL, 'wasm')) return true;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const heap = backend as unknown as Heap;
      const [rows, cols] = x.shape as [number, number];
      const out = heap.makeOutput([cols, rows], 'float32');
      const [src, dst] = [x, out].map((t) => heap.typedArrayFromHeap(t).byteOffset);
      wasmSimd()!.transpose(src, dst, rows, cols);
      return out;
    },
  });
  return true;
}

/** `xᵀ` of a 2-D tensor. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  // the loop runs at least one tile: empty sides go to tf.transpose
  const tiled = rows > 0 && cols > 0 && rows % TRANSPOSE_TILE === 0 && cols % TRANSPOSE_TILE === 0;
  if (tiled && x.dtype === 'float32' && ensureKernel())
    return tf.engine().runKernel(KERNEL, { x }) as tf.Tensor2D;
  return tf.transpose(x);
}

import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, type SimdKernelFunc } from './wasm-simd.js';

/*
 * Batched matmul `[batch, m, k] x [batch, k, n]` (either operand optionally transposed) for attention's
 * per-head products. wasm runs every batched or transposed-flag matmul in a plain scalar loop (its fast
 * kernel takes only 2-D untransposed products), ~1-1.5 GFLOP/s at attention's sizes; the SIMD loops of
 * wasm-simd.ts do the same products on the heap at ~4-12 GFLOP/s, reading a transposed operand in place.
 * They need the vectorized axis (n, or k when b is transposed) a multiple of 4 and equal batches;
 * anything else, and other backends, take tf.matMul. The op has no gradient of its own: it is used
 * inside hand-written backwards (attention.ts).
 */

const KERNEL = 'DbmimBatchMatMul';

const kernel: SimdKernelFunc = (inputs, attrs, loops, heap) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const [batch, m, k] = (transposeA ? [a.shape[0], a.shape[2], a.shape[1]] : a.shape) as number[];
  const n = (transposeB ? b.shape[1] : b.shape[2])!;
  const out = heap.output([batch!, m!, n]);
  const [pa, pb, pc] = [a, b, out].map(heap.offset);
  if (transposeB) loops.bmmt(pa, pb, pc, batch, m, n, 4 * k!);
  else {
    // a's element (t, i, kk): stored [t, i, kk], or [t, kk, i] when transposed
    const [row, col] = transposeA ? [4, 4 * m!] : [4 * k!, 4];
    loops.bmm(pa, pb, pc, batch, m, k, 4 * n, 4 * m! * k!, row, col, 4 * k! * n);
  }
  return out;
};

/** `a · b` per batch entry, with optional transposes: as `tf.matMul` on rank-3 operands. */
export function batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor3D {
  if (a.rank !== 3 || b.rank !== 3) return tf.matMul(a, b, transposeA, transposeB) as tf.Tensor3D;
  const [, a1, a2] = a.shape as [number, number, number];
  const [, b1, b2] = b.shape as [number, number, number];
  const k = transposeA ? a1 : a2;
  const n = transposeB ? b1 : b2;
  const vectorized = transposeB ? k : n;
  const fits =
    !(transposeA && transposeB) &&
    a.shape[0] === b.shape[0] &&
    (transposeB ? b2 : b1) === k &&
    vectorized % 4 === 0 &&
    a.size > 0 && // the loops run every count at least once
    b.size > 0 &&
    a.dtype === 'float32' &&
    b.dtype === 'float32';
  if (fits && ensureSimdKernel(KERNEL, kernel))
    return tf.engine().runKernel(KERNEL, { a, b }, { transposeA, transposeB }) as tf.Tensor3D;
  return tf.matMul(a, b, transposeA, transposeB) as tf.Tensor3D;
}

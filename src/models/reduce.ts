import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, type SimdKernelFunc } from './wasm-simd.js';

/*
 * Column sums on the fast path. tf.sum over axis 0 transposes first (slow in wasm); a [1, n] x [n, d]
 * matMul with a ones row is ~40x faster. Used by every backward that reduces over tokens (bias, norm).
 * wasm's matMul packs its right operand on first use: for a tall narrow x that is not yet packed (a
 * bias gradient over the voxels of a volume) the packing costs more than the sums, so such an x is
 * first summed in groups of rows as the left operand: `[n/g, g*d] · [g*d, d]` with g stacked identities.
 * On wasm, such tall matrices with d a multiple of 4 are summed by a SIMD loop instead (wasm-simd.ts,
 * colsumFunc): one pass over x, 5-20x faster than either matmul form at 8k-131k rows.
 */

/** Rows per group of the narrow path; the identity stack is `[g*d, d]`. */
const GROUP = 64;
/** The narrow path is taken for d up to this and at least this many rows. */
const NARROW_MAX_COLS = 8;
const NARROW_MIN_ROWS = 4096;
/** The SIMD loop is taken from this many rows (fewer: the matmul, as before). */
const SIMD_MIN_ROWS = 4096;
/** Columns of a folded row on the SIMD path (narrower matrices are summed f rows at a time). */
const FOLD_COLS = 64;

const KERNEL = 'DbmimSumRows';

const kernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const [n, d] = x.shape as [number, number];
  const out = heap.output([d]);
  loops.colsum(heap.offset(x), heap.offset(out), n, 4 * d);
  return out;
};

/** Sum over rows of a 2D tensor: `[n, d] -> [d]`. */
export function sumRows(x: tf.Tensor2D): tf.Tensor1D {
  const [n, d] = x.shape;
  if (
    n >= SIMD_MIN_ROWS &&
    d % 4 === 0 &&
    d > 0 &&
    x.dtype === 'float32' &&
    ensureSimdKernel(KERNEL, kernel)
  ) {
    // narrow rows go f at a time (one row of f*d columns): the loop's per-row overhead is paid n/f times
    let f = 1;
    while (f * 2 * d <= FOLD_COLS && n % (f * 2) === 0) f *= 2;
    if (f === 1) return tf.engine().runKernel(KERNEL, { x }) as tf.Tensor1D;
    return tf.tidy(() => {
      const partial = tf.engine().runKernel(KERNEL, { x: tf.reshape(x, [n / f, f * d]) }) as tf.Tensor1D;
      return tf.sum(tf.reshape(partial, [f, d]), 0);
    });
  }
  return tf.tidy(() => {
    if (d <= NARROW_MAX_COLS && n >= NARROW_MIN_ROWS && n % GROUP === 0) {
      const eyes = tf.tile(tf.eye(d), [GROUP, 1]); // [g*d, d]
      const partial = tf.matMul(tf.reshape(x, [n / GROUP, GROUP * d]), eyes); // [n/g, d]
      return tf.matMul(tf.ones([1, n / GROUP]), partial).reshape([d]);
    }
    return tf.matMul(tf.ones([1, n]), x).reshape([d]);
  });
}

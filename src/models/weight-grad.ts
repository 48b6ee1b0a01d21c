import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, wgradLoop, type SimdKernelFunc } from './wasm-simd.js';

/*
 * Weight gradient of a stride-1 k x k 'same' convolution of channels-last images (k = 1: a dense layer's
 * `xᵀ · dy`), one SIMD loop over x and dY where they lie (wasm-simd.ts, wgradFunc). The tfjs forms cost
 * more than the arithmetic: the conv form (conv-inplane.ts) transposes x and dY and hands XNNPACK a
 * fresh "filter" of every pixel to pack; the dense form transposes x (a naive loop when a side is not a
 * multiple of 16) and packs dY. Other backends, output channels that are not a multiple of 4 and
 * images narrower than the kernel return null: callers keep their tfjs path.
 */

const KERNEL = 'DbmimWeightGrad';

const kernel: SimdKernelFunc = (inputs, attrs, _loops, heap) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { k, n, h, w } = attrs as { k: number; n: number; h: number; w: number };
  const cin = x.shape[x.shape.length - 1]!;
  const cout = dy.shape[dy.shape.length - 1]!;
  const out = heap.output([k, k, cin, cout]);
  wgradLoop({ k, cin, cout })!(heap.offset(x), heap.offset(dy), heap.offset(out), n, h, w);
  return out;
};

/** Whether {@link convWeightGrad} / {@link denseWeightGrad} run the SIMD loop for these channels. */
function available(k: number, cin: number, cout: number): boolean {
  return cin > 0 && wgradLoop({ k, cin, cout }) !== null && ensureSimdKernel(KERNEL, kernel);
}

/**
 * `dW[ky, kx, ci, co] = sum x[n, y + ky - r, x + kx - r, ci] dy[n, y, x, co]` (zero outside x) for
 * x `[n, h, w, cin]` and dy `[n, h, w, cout]`: the filter gradient of `conv2d(x, W, 1, 'same')`, as
 * `[k, k, cin, cout]`; null where the loop is not available (or w < k).
 */
export function convWeightGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number): tf.Tensor4D | null {
  const [n, h, w, cin] = x.shape;
  const cout = dy.shape[3];
  // the loop's rows need an interior (w > k - 1)
  if (x.size === 0 || w < k || x.dtype !== 'float32' || dy.dtype !== 'float32' || !available(k, cin, cout))
    return null;
  return tf.engine().runKernel(KERNEL, { x, dy }, { k, n, h, w }) as tf.Tensor4D;
}

/** Bytes of x and dY a chunk of a dense layer's rows may span: the chunk stays in L1 across the blocks. */
const CHUNK_BYTES = 16384;

/** Rows per chunk of a dense layer's walk: the largest divisor of `rows` whose chunk fits CHUNK_BYTES. */
function chunkOf(rows: number, channels: number): number {
  for (let c = Math.min(Math.max(1, Math.floor(CHUNK_BYTES / (4 * channels))), rows); c > 1; c--)
    if (rows % c === 0) return c;
  return 1;
}

/**
 * `xᵀ · dy` for x `[rows, in]` and dy `[rows, out]` (a dense layer's weight gradient) as `[in, out]`;
 * null where the loop is not available for `out` (nor for `in`, computing `(dyᵀ · x)ᵀ`).
 */
export function denseWeightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D | null {
  const [rows, cin] = x.shape;
  const cout = dy.shape[1];
  if (x.size === 0 || dy.size === 0 || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const w = chunkOf(rows, cin + cout);
  const attrs = { k: 1, n: 1, h: rows / w, w };
  if (available(1, cin, cout))
    return tf.tidy(() =>
      tf.reshape(tf.engine().runKernel(KERNEL, { x, dy }, attrs) as tf.Tensor, [cin, cout]),
    );
  if (available(1, cout, cin))
    return tf.tidy(() =>
      tf.transpose(
        tf.reshape(tf.engine().runKernel(KERNEL, { x: dy, dy: x }, attrs) as tf.Tensor, [cout, cin]),
      ),
    );
  return null;
}

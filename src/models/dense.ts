import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../core/errors.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';
import { transpose2d } from './transpose.js';
import { denseWeightGrad } from './weight-grad.js';
import { runConvLoop } from './wasm-simd.js';

/*
 * A linear layer on 2D activations `[rows, in] -> [rows, out]`, as a registered kernel (the backend's
 * fused matmul with bias) with a gradient per input. tfjs builds matMul's gradient from transposed-flag
 * matmuls, which run ~14x slower than plain ones in wasm; this backward uses explicit transposes (tiled,
 * transpose.ts) and plain matmuls instead: dX = dY · Wᵀ (this kernel), dW = Xᵀ · dY, db = 1ᵀ · dY. dW is
 * weight-grad.ts's SIMD loop where it applies (the same sums in the same order as XNNPACK's, bit-identical
 * in our checks; 1.2-9x faster, most at many rows and few columns). A registered
 * kernel, not a tf.customGrad: tfjs asks it only for the gradients a trained variable needs, so a layer
 * on data (the patch embedding of raw voxels) never computes its dX.
 */

const KERNEL = 'DbmimDense';

tf.registerGradient({
  kernelName: KERNEL,
  inputsToSave: ['x', 'w'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = dy as tf.Tensor2D;
    const [x, w] = saved as [tf.Tensor2D, tf.Tensor2D];
    return {
      x: () => tf.engine().runKernel(KERNEL, { x: g, w: transpose2d(w) }) as tf.Tensor2D, // g · wᵀ, no bias
      w: () => denseWeightGrad(x, g) ?? tf.matMul(transpose2d(x), g),
      b: () => sumRows(g),
    };
  },
});

/**
 * Register the kernel on the active backend (once): wasm-simd.ts's conv loop with a 1x1 kernel where it
 * applies (wasm with SIMD, outputs a multiple of 4: bit-identical to XNNPACK's matmul in our checks and
 * 1.4-3x faster, most with few columns), else the backend's `_FusedMatMul` on 3-D views of x and w.
 */
function ensureKernel(): void {
  const backend = tf.getBackend();
  if (tf.getKernel(KERNEL, backend)) return;
  const fused = tf.getKernel('_FusedMatMul', backend);
  const reshape = tf.getKernel('Reshape', backend);
  if (!fused || !reshape)
    throw new BackendError(`dense: backend '${backend}' has no _FusedMatMul or Reshape kernel`);
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: backend,
    kernelFunc: ({ inputs, backend: be }) => {
      const { x, w, b } = inputs as { x: tf.TensorInfo; w: tf.TensorInfo; b?: tf.TensorInfo };
      const rows = x.shape[0]!;
      // the rows as one row of pixels of a 1x1 conv
      const simd =
        rows > 0 ? runConvLoop({ x, filter: w, bias: b }, 1, [1, 1, rows], [rows, w.shape[1]!]) : null;
      if (simd) return simd;
      // Reshape shares the data (one more reference), as tfjs's own matMul does before this kernel
      const view = (t: tf.TensorInfo, shape: number[]) =>
        reshape.kernelFunc({ inputs: { x: t }, backend: be, attrs: { shape } }) as tf.TensorInfo;
      const a3 = view(x, [1, ...x.shape]);
      const w3 = view(w, [1, ...w.shape]);
      const attrs = { transposeA: false, transposeB: false, activation: 'linear' };
      const y3 = fused.kernelFunc({ inputs: { a: a3, b: w3, bias: b }, backend: be, attrs }) as tf.TensorInfo;
      const y = view(y3, [x.shape[0]!, w.shape[1]!]);
      for (const t of [a3, w3, y3]) (be as tf.KernelBackend).disposeData(t.dataId);
      return y;
    },
  });
}

/** `x · w (+ b)` with the fast backward. x `[rows, in]`, w `[in, out]`, b `[out]`. */
export function dense(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  ensureKernel();
  const inputs: tf.NamedTensorMap = b ? { x, w, b } : { x, w };
  return tf.engine().runKernel(KERNEL, inputs) as tf.Tensor2D;
}

/** Weights of a linear layer: `w` (Xavier, decayed) and `b` (zeros, not decayed). */
export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable | null;

  constructor(
    scope: ParamScope,
    readonly inDim: number,
    readonly outDim: number,
    opts: { bias?: boolean } = {},
  ) {
    this.w = scope.add('w', [inDim, outDim], { kind: 'xavier', fanIn: inDim, fanOut: outDim }, true);
    this.b = opts.bias === false ? null : scope.add('b', [outDim], { kind: 'zeros' });
  }

  /** `[rows, in] -> [rows, out]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return dense(x, this.w, this.b ?? undefined);
  }

  /** Multiply-adds per row (for FLOP counts). */
  get macsPerRow(): number {
    return this.inDim * this.outDim;
  }
}

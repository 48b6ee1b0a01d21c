import * as tf from '@tensorflow/tfjs';
import { BackendError, ConfigError } from '../core/errors.js';
import { dense } from './dense.js';
import { ensureJsKernel, type JsKernelFunc } from './js-kernel.js';
import type { ParamScope } from './params.js';
import { sumRows } from './reduce.js';
import { relu, reluBackward } from './relu.js';
import { runConvLoop } from './wasm-simd.js';
import { convWeightGrad } from './weight-grad.js';

/*
 * In-plane (y, x) convolution of a channels-last volume `[batch, d, h, w, c]`, section by section: the
 * natural kernel for anisotropic serial-section EM (50 nm sections, 4 nm pixels), where a 3x3x3 kernel
 * would mix sections 12x farther apart than its in-plane taps. The forward (with the bias: a separate
 * broadcast add costs a third of the conv) is a SIMD loop generated per shape on wasm (wasm-simd.ts,
 * convFunc: 1.3-2.9x faster than XNNPACK's conv at the affinity net's shapes, ~46 GFLOP/s here), else
 * the backend's fused conv2d. wasm has no Conv2DBackpropFilter kernel, so the backward is written here:
 *   dX = conv(dY, W rotated 180 degrees with in/out swapped)     ('same' padding, odd kernel; this op)
 *   dW = correlation of X with dY                                 (weight-grad.ts, else filterGrad)
 *   db = column sums of dY
 * The op is a registered kernel with a gradient per input, not a tf.customGrad: tfjs then computes only
 * the gradients some trained variable needs, so a conv on data (the raw image, the first layer of every
 * raw branch) never computes its dX (a full conv2d per step).
 */

const KERNEL = 'DbmimConvSame';
/** The same conv with a relu fused into its output store (one pass over the output less, each way). */
const KERNEL_RELU = 'DbmimConvSameRelu';
/** W `[k, k, in, out]` rotated 180 degrees with in/out swapped, `[k, k, out, in]`: dX's filter. */
const FLIP = 'DbmimConvFilterFlip';

/**
 * dW of a 'same' k x k convolution as one more conv2d: the input with channels as the batch and the
 * images as channels (`[cin, h, w, n]`, zero-padded by r inside the conv) correlated with dY as an
 * `[h, w, n, cout]` filter gives `[cin, k, k, cout]`. XNNPACK runs it as one large GEMM: ~9x faster
 * here than an im2col (slices, a last-axis concat and a transpose) followed by a matmul; the conv's own
 * padding saves a pad of X (as slow as the GEMM's packing in wasm).
 */
function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number): tf.Tensor4D {
  const r = (k - 1) / 2;
  const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, h, w, n]
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [h, w, n, cout]
  // explicit padding: tfjs sizes a numeric pad's output with the filter height on both axes
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [r, r],
    [r, r],
    [0, 0],
  ];
  const g = tf.conv2d(xt, dyt, 1, pad); // [cin, k, k, cout]
  return tf.transpose(g, [1, 2, 0, 3]); // [k, k, cin, cout]
}

/** One JS loop over the (small) filter where JS can address the backend's memory: wasm's Reverse and Transpose cost ~0.2 ms each here. */
const flipKernel: JsKernelFunc = ({ w }, _attrs, mem) => {
  const [k, , cin, cout] = w!.shape as [number, number, number, number];
  const out = mem.output([k, k, cout, cin]);
  const src = mem.view(w!);
  const dst = mem.view(out);
  for (let ky = 0; ky < k; ky++)
    for (let kx = 0; kx < k; kx++) {
      const s0 = ((k - 1 - ky) * k + (k - 1 - kx)) * cin * cout;
      const d0 = (ky * k + kx) * cout * cin;
      for (let ci = 0; ci < cin; ci++)
        for (let co = 0; co < cout; co++) dst[d0 + co * cin + ci] = src[s0 + ci * cout + co]!;
    }
  return out;
};

/** The filter of dX: W rotated 180 degrees in-plane, in/out swapped. */
function flipFilter(w: tf.Tensor4D): tf.Tensor4D {
  if (w.dtype === 'float32' && ensureJsKernel(FLIP, flipKernel))
    return tf.engine().runKernel(FLIP, { w }) as tf.Tensor4D;
  return tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]));
}

/** The conv's gradients from the upstream gradient of its (linear) output. */
function convGrads(g: tf.Tensor4D, x: tf.Tensor4D, w: tf.Tensor4D) {
  const k = w.shape[0];
  return {
    x: () => {
      ensureKernel(KERNEL);
      return tf.engine().runKernel(KERNEL, { x: g, filter: flipFilter(w) }) as tf.Tensor4D; // no bias
    },
    filter: () => convWeightGrad(x, g, k) ?? filterGrad(x, g, k),
    bias: () => sumRows(tf.reshape(g, [-1, w.shape[3]]) as tf.Tensor2D),
  };
}

tf.registerGradient({
  kernelName: KERNEL,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [x, w] = saved as [tf.Tensor4D, tf.Tensor4D];
    return convGrads(dy as tf.Tensor4D, x, w);
  },
});

tf.registerGradient({
  kernelName: KERNEL_RELU,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [x, w, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    // relu's backward once, before the conv's: every gradient below reads it
    return convGrads(reluBackward(dy as tf.Tensor, y) as tf.Tensor4D, x, w);
  },
});

/**
 * Register `name` on the active backend (once): wasm-simd.ts's generated conv loop where it applies
 * (wasm with SIMD, output channels a multiple of 4, images wider than the kernel), else the backend's
 * FusedConv2D; KERNEL_RELU with a relu on its output.
 */
function ensureKernel(name: typeof KERNEL | typeof KERNEL_RELU): void {
  const backend = tf.getBackend();
  if (tf.getKernel(name, backend)) return;
  const fused = tf.getKernel('FusedConv2D', backend);
  if (!fused) throw new BackendError(`in-plane conv: backend '${backend}' has no FusedConv2D kernel`);
  const relu = name === KERNEL_RELU;
  tf.registerKernel({
    kernelName: name,
    backendName: backend,
    kernelFunc: ({ inputs, backend: b }) => {
      const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
      const [n, h, w] = x.shape as [number, number, number, number];
      const [k, , , cout] = filter.shape as [number, number, number, number];
      // the loop's rows need an interior (w >= k)
      const simd = w >= k ? runConvLoop({ x, filter, bias }, k, [n, h, w], [n, h, w, cout], relu) : null;
      return (
        simd ??
        fused.kernelFunc({
          inputs,
          backend: b,
          attrs: {
            strides: 1,
            pad: 'same',
            dilations: 1,
            dataFormat: 'NHWC',
            activation: relu ? 'relu' : 'linear',
          },
        })
      );
    },
  });
}

/**
 * `conv2d(x, w, 'same') + b` (then `max(., 0)` with `relu`): x `[n, h, w, in]`, w `[k, k, in, out]` (k
 * odd), b `[out]`, with the backward above (wasm has none). Gradients are computed only for inputs that
 * need them.
 */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, relu = false): tf.Tensor4D {
  const name = relu ? KERNEL_RELU : KERNEL;
  ensureKernel(name);
  return tf.engine().runKernel(name, { x, filter: w, bias: b }, {}) as tf.Tensor4D;
}

/** A k x k in-plane convolution, 'same' padding, stride 1; weights `[k, k, in, out]`, bias `[out]`. */
export class ConvInPlane {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    scope: ParamScope,
    readonly inCh: number,
    readonly outCh: number,
    readonly kernel: number,
  ) {
    if (kernel % 2 !== 1) throw new ConfigError(`in-plane conv: kernel must be odd, got ${kernel}`);
    const fanIn = inCh * kernel ** 2;
    const fanOut = outCh * kernel ** 2;
    this.w = scope.add('w', [kernel, kernel, inCh, outCh], { kind: 'xavier', fanIn, fanOut }, true);
    this.b = scope.add('b', [outCh], { kind: 'zeros' });
  }

  /**
   * `[b, d, h, w, in] -> [b, d, h, w, out]`, each section on its own; `relu`: `relu(conv(x))`, fused into
   * the conv where it has a kernel.
   */
  apply(x: tf.Tensor5D, opts: { relu?: boolean } = {}): tf.Tensor5D {
    const [b, d, h, w, c] = x.shape;
    // 1x1: a matmul over voxels (its backward is two plain matmuls, not the conv filter gradient)
    if (this.kernel === 1) {
      const y = dense(tf.reshape(x, [-1, c]) as tf.Tensor2D, tf.reshape(this.w, [c, this.outCh]), this.b);
      return tf.reshape(opts.relu ? relu(y) : y, [b, d, h, w, this.outCh]) as tf.Tensor5D;
    }
    const y = conv2dSame(
      tf.reshape(x, [b * d, h, w, c]) as tf.Tensor4D,
      this.w as tf.Tensor4D,
      this.b as tf.Tensor1D,
      opts.relu === true,
    );
    return tf.reshape(y, [b, d, h, w, this.outCh]) as tf.Tensor5D;
  }

  /** Multiply-adds per output voxel. */
  get macsPerVoxel(): number {
    return this.inCh * this.outCh * this.kernel ** 2;
  }
}

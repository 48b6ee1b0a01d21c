import * as tf from '@tensorflow/tfjs';
import { ensureSimdKernel, type SimdKernelFunc } from './wasm-simd.js';

/*
 * relu with a one-pass backward. tfjs differentiates relu as `dy * cast(step(x))`: three kernels, each a
 * full pass over memory and a new tensor, ~1.3 ms each relu at the affinity net's full resolution
 * (1M values). Here the backward is one SIMD loop (wasm-simd.ts, reluGradFunc) that keeps dy where
 * the saved output is positive (y > 0 exactly where x > 0). The forward is the backend's own Relu.
 * Other backends, and sizes that are not a multiple of 4, take tf.relu.
 */

const KERNEL = 'DbmimRelu';
const GRAD = 'DbmimReluGrad';

const gradKernel: SimdKernelFunc = (inputs, _attrs, loops, heap) => {
  const { dy, y } = inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const out = heap.output(dy.shape);
  loops.relugrad(heap.offset(dy), heap.offset(y), heap.offset(out), 4 * tf.util.sizeFromShape(dy.shape));
  return out;
};

tf.registerGradient({
  kernelName: KERNEL,
  outputsToSave: [true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({
    x: () => tf.engine().runKernel(GRAD, { dy: dy as tf.Tensor, y: saved[0]! }) as tf.Tensor,
  }),
});

/** Register the forward (the backend's Relu) and the backward loop on wasm (once); false elsewhere. */
function ensureKernels(): boolean {
  if (!ensureSimdKernel(GRAD, gradKernel)) return false;
  const backend = tf.getBackend();
  if (!tf.getKernel(KERNEL, backend)) {
    const own = tf.getKernel('Relu', backend);
    if (!own) return false;
    tf.registerKernel({ kernelName: KERNEL, backendName: backend, kernelFunc: own.kernelFunc });
  }
  return true;
}

/**
 * relu's backward from its output: `y > 0 ? dy : 0` (y = relu(x), positive exactly where x is), the one
 * SIMD pass where available. For kernels that fuse a relu into their output (conv-inplane.ts).
 */
export function reluBackward(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (dy.dtype === 'float32' && dy.size > 0 && dy.size % 4 === 0 && ensureKernels())
    return tf.engine().runKernel(GRAD, { dy, y }) as tf.Tensor;
  return tf.tidy(() => tf.mul(dy, tf.step(y)));
}

/** `max(x, 0)`, as tf.relu, with the one-pass backward where available. */
export function relu<T extends tf.Tensor>(x: T): T {
  if (x.dtype !== 'float32' || x.size === 0 || x.size % 4 !== 0 || !ensureKernels()) return tf.relu(x);
  return tf.engine().runKernel(KERNEL, { x }) as T;
}

import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../core/errors.js';
import { activeJsMemory, ensureJsKernel, type JsMemory } from './js-kernel.js';
import { wasmSimd } from './wasm-simd.js';

/*
 * The AdamW update of one parameter as one registered kernel, a single loop over the elements instead of
 * ~14 elementwise kernels (each a full pass over memory, plus its output allocation): on the `small` MIM
 * model (95 parameters, 3.2 M values) the op-by-op update took ~58 ms a step in wasm, about a sixth of
 * the step. The loop runs in JS directly on the backend's memory (js-kernel.ts). It returns new tensors
 * for p, m and v: a parameter must get a new data id on every update, since wasm caches the packed form
 * of a matmul's right operand by data id (an in-place write would leave a stale packed weight behind).
 *
 * The math is the op-by-op update's (AdamW.updateOps), element by element: in float32 four lanes at a
 * time on wasm (wasm-simd.ts), in float64 rounded to float32 on store in the JS loop (other backends,
 * and the last few elements):
 *   g' = clip g;  m' = b1 m + (1 - b1) g';  v' = b2 v + (1 - b2) g'^2
 *   p' = p - (lr / bc1 * m' / (sqrt(v' / bc2) + eps) + lr wd p)
 */

const KERNEL = 'DbmimAdamW';

/** Per-update constants of one parameter (attrs of the kernel). */
export interface AdamWKernelAttrs {
  /** Gradient scale from global-norm clipping (1 = none). */
  clip: number;
  beta1: number;
  beta2: number;
  /** lr / (1 - beta1^t): the step on the bias-corrected first moment. */
  stepSize: number;
  /** 1 - beta2^t. */
  bc2: number;
  eps: number;
  /** lr * weight decay (0 for parameters without decay). */
  decayStep: number;
}

function adamWKernel(
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
  mem: JsMemory,
): tf.TensorInfo[] {
  const { p, g, m, v } = inputs as Record<'p' | 'g' | 'm' | 'v', tf.TensorInfo>;
  const a = attrs as unknown as AdamWKernelAttrs;
  const outs = [mem.output(p.shape), mem.output(p.shape), mem.output(p.shape)];
  const [pv, gv, mv, vv] = [p, g, m, v].map((t) => mem.view(t)) as Float32Array[];
  const [po, mo, vo] = outs.map((t) => mem.view(t)) as [Float32Array, Float32Array, Float32Array];
  const { beta1: b1, beta2: b2, stepSize, eps, decayStep } = a;
  const c1 = (1 - b1) * a.clip;
  const c2 = (1 - b2) * a.clip * a.clip;
  const invBc2 = 1 / a.bc2;
  const keep = 1 - decayStep;
  // four lanes at a time on the wasm heap where the SIMD loop is available, the rest (a tail) in JS
  const simd = wasmSimd();
  const lanes = simd ? po.length - (po.length % 4) : 0;
  if (simd && lanes > 0) {
    const ptrs = [pv, gv, mv, vv, po, mo, vo].map((a) => a!.byteOffset);
    simd.adamw(...ptrs, lanes * 4, b1, b2, c1, c2, stepSize, invBc2, eps, keep);
  }
  for (let i = lanes; i < po.length; i++) {
    const gi = gv![i]!;
    const mi = b1 * mv![i]! + c1 * gi;
    const vi = b2 * vv![i]! + c2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = keep * pv![i]! - (stepSize * mi) / (Math.sqrt(vi * invBc2) + eps);
  }
  return outs;
}

/** Whether the active backend has the fused update (wasm, cpu); others take AdamW's op-by-op path. */
export function hasFusedAdamW(): boolean {
  return ensureJsKernel(KERNEL, adamWKernel);
}

/**
 * One fused AdamW update: returns new `[p, m, v]` tensors (the inputs are unchanged). Call only when
 * {@link hasFusedAdamW} is true.
 */
export function fusedAdamW(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamWKernelAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(KERNEL, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
}

/** Sum of squares of float32 tensors, read in place and summed in float64 (with the fused update). */
export function sumOfSquares(ts: tf.Tensor[]): number {
  const mem = activeJsMemory();
  if (!mem) throw new BackendError(`sumOfSquares: backend '${tf.getBackend()}' has no memory JS can read`);
  let s = 0;
  for (const t of ts) {
    const x = mem.view(t);
    for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  }
  return s;
}

import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../core/errors.js';

/*
 * The AdamW update of one parameter as one registered kernel, a single loop over the elements instead of
 * ~14 elementwise kernels (each a full pass over memory, plus its output allocation): on the `small` MIM
 * model (95 parameters, 3.2 M values) the op-by-op update took ~58 ms a step in wasm, about a sixth of
 * the step. The loop runs in JS directly on the backend's memory (wasm heap or cpu arrays), so nothing is
 * copied in or out. It returns new tensors for p, m and v: a parameter must get a new data id on every
 * update, since wasm caches the packed form of a matmul's right operand by data id (an in-place write
 * would leave a stale packed weight behind).
 *
 * The math is AdamWOps' (adamw.ts), element by element in float64 and rounded to float32 on store:
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

/** What the kernel needs of a backend: typed views of its tensors' values and new outputs. */
interface Memory {
  view(t: tf.TensorInfo): Float32Array;
  output(shape: number[]): tf.TensorInfo;
}

type WasmLike = {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
};
type CpuLike = {
  data: { get(id: tf.DataId): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo;
};

/** The backends whose memory JS can address directly. */
const MEMORY: Record<string, (b: unknown) => Memory> = {
  wasm: (b) => {
    const w = b as WasmLike;
    return { view: (t) => w.typedArrayFromHeap(t), output: (s) => w.makeOutput(s, 'float32') };
  },
  cpu: (b) => {
    const c = b as CpuLike;
    return {
      view: (t) => c.data.get(t.dataId).values,
      output: (s) => c.makeTensorInfo(s, 'float32', new Float32Array(tf.util.sizeFromShape(s))),
    };
  },
};

function memoryOf(backendName: string, backend: unknown): Memory {
  const m = MEMORY[backendName];
  if (!m) throw new BackendError(`AdamW kernel: backend '${backendName}' has no addressable memory`);
  return m(backend);
}

/** Whether the active backend has the fused update (wasm, cpu); others take AdamW's op-by-op path. */
export function hasFusedAdamW(): boolean {
  const name = tf.getBackend();
  if (!(name in MEMORY)) return false;
  if (!tf.getKernel(KERNEL, name)) {
    tf.registerKernel({
      kernelName: KERNEL,
      backendName: name,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { p, g, m, v } = inputs as Record<'p' | 'g' | 'm' | 'v', tf.TensorInfo>;
        const a = attrs as unknown as AdamWKernelAttrs;
        const mem = memoryOf(name, backend);
        // outputs first: allocating may grow the wasm heap, which detaches earlier views
        const outs = [mem.output(p.shape), mem.output(p.shape), mem.output(p.shape)];
        const [pv, gv, mv, vv] = [p, g, m, v].map((t) => mem.view(t)) as Float32Array[];
        const [po, mo, vo] = outs.map((t) => mem.view(t)) as [Float32Array, Float32Array, Float32Array];
        const { beta1: b1, beta2: b2, stepSize, eps, decayStep } = a;
        const c1 = (1 - b1) * a.clip;
        const c2 = (1 - b2) * a.clip * a.clip;
        const invBc2 = 1 / a.bc2;
        const keep = 1 - decayStep;
        for (let i = 0; i < po.length; i++) {
          const gi = gv![i]!;
          const mi = b1 * mv![i]! + c1 * gi;
          const vi = b2 * vv![i]! + c2 * gi * gi;
          mo[i] = mi;
          vo[i] = vi;
          po[i] = keep * pv![i]! - (stepSize * mi) / (Math.sqrt(vi * invBc2) + eps);
        }
        return outs;
      },
    });
  }
  return true;
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
  const name = tf.getBackend();
  const mem = memoryOf(name, tf.backend());
  let s = 0;
  for (const t of ts) {
    const x = mem.view(t);
    for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  }
  return s;
}

import * as tf from '@tensorflow/tfjs';

/*
 * Kernels written as plain JS loops over the backend's own memory (the wasm heap, the cpu backend's
 * arrays): nothing is copied in or out, and one loop replaces a chain of small kernels, each of which
 * costs a pass over memory, an output allocation and the engine's per-kernel bookkeeping. Backends whose
 * memory JS cannot address (tensorflow) get no such kernel; callers keep an op-by-op path for them.
 */

/** Typed views of a backend's float32 tensors, and new outputs. */
export interface JsMemory {
  view(t: tf.TensorInfo): Float32Array;
  /**
   * A new float32 output. On wasm an allocation may grow the heap, which detaches every view taken
   * before it: allocate all outputs first, then take views.
   */
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
const MEMORY: Record<string, (b: unknown) => JsMemory> = {
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

/** The active backend's memory, or null when JS cannot address it. */
export function activeJsMemory(): JsMemory | null {
  const make = MEMORY[tf.getBackend()];
  return make ? make(tf.backend()) : null;
}

/** A JS kernel body: named inputs, attrs and the backend's memory -> its output(s). */
export type JsKernelFunc = (
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
  mem: JsMemory,
) => tf.TensorInfo | tf.TensorInfo[];

/**
 * Register `kernelName` as a JS kernel on the active backend (once). Returns false, registering nothing,
 * when the backend's memory is not addressable from JS.
 */
export function ensureJsKernel(kernelName: string, body: JsKernelFunc): boolean {
  const backendName = tf.getBackend();
  const make = MEMORY[backendName];
  if (!make) return false;
  if (!tf.getKernel(kernelName, backendName))
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        body(
          inputs as Record<string, tf.TensorInfo>,
          (attrs ?? {}) as Record<string, unknown>,
          make(backend),
        ),
    });
  return true;
}

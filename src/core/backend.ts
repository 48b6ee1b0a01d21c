import * as tf from '@tensorflow/tfjs';
import { BackendError, ConfigError } from './errors.js';

/** Backends dbmim knows, in order of preference for `auto`. */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendRequest = BackendName | 'auto';

/** What `selectBackend` chose and how. */
export interface BackendInfo {
  name: BackendName;
  /** The npm package that provided it. */
  package: string;
  /** Backend flags worth printing (wasm SIMD and threads, tfjs version). */
  flags: Record<string, string | number | boolean>;
}

/** The environment variable that chooses the backend when no `--backend` flag is given. */
export const BACKEND_ENV = 'DBMIM_BACKEND';

let active: BackendInfo | null = null;

function errText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

async function tryTensorflow(): Promise<{ pkg: string } | { error: string }> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (tf.findBackend('tensorflow')) return { pkg };
      reasons.push(`${pkg} loaded but registered no 'tensorflow' backend`);
    } catch (e) {
      const code = (e as { code?: string }).code;
      reasons.push(
        code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? `${pkg} is not installed`
          : `${pkg} failed to load: ${errText(e)}`,
      );
    }
  }
  return { error: reasons.join('; ') };
}

async function activate(name: BackendName): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`backend '${name}' is registered but failed to initialize`);
  await tf.ready();
  if (name === 'wasm') shareIdentityData();
}

let identityShared = false;

/**
 * wasm's Identity kernel copies its input, and tfjs runs it for every tensor a gradient saves (its
 * tape keeps a clone of each): a train step copied every weight and saved activation once more (~200
 * copies a `small` MIM step). Tensors are immutable, so the clone shares the data under one more
 * reference instead, as the cpu backend's Identity does (strings keep the copy).
 */
function shareIdentityData(): void {
  const copy = tf.getKernel('Identity', 'wasm');
  if (identityShared || !copy) return;
  identityShared = true;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = (args.inputs as { x: tf.TensorInfo }).x;
      if (x.dtype === 'string') return copy.kernelFunc(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/** Parse a backend name from a flag or the environment, naming the source on error. */
export function parseBackend(value: string | undefined, source: string): BackendRequest | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'auto' || (BACKENDS as readonly string[]).includes(v)) return v as BackendRequest;
  throw new ConfigError(
    `${source}: unknown backend '${value}' (expected one of auto, ${BACKENDS.join(', ')})`,
  );
}

/**
 * Choose and activate the tfjs backend. Order for `auto`: `tensorflow` (tfjs-node-gpu, then tfjs-node,
 * when installed and loadable), then `wasm`, then `cpu`. An explicitly requested backend that cannot load
 * is an error that says why; it never falls back silently. The request comes from the argument, else the
 * `DBMIM_BACKEND` environment variable, else `auto`.
 */
export async function selectBackend(request?: BackendRequest): Promise<BackendInfo> {
  const req = request ?? parseBackend(process.env[BACKEND_ENV], BACKEND_ENV) ?? 'auto';
  if (active && (req === 'auto' || req === active.name)) return active;
  let chosen: { name: BackendName; pkg: string } | null = null;

  if (req === 'tensorflow' || req === 'auto') {
    const r = await tryTensorflow();
    if ('pkg' in r) chosen = { name: 'tensorflow', pkg: r.pkg };
    else if (req === 'tensorflow')
      throw new BackendError(
        `backend 'tensorflow' cannot load: ${r.error}. Install @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node next to dbmim (see README, "CUDA machines").`,
      );
  }
  if (!chosen && (req === 'wasm' || req === 'auto')) {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      chosen = { name: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' };
    } catch (e) {
      if (req === 'wasm') throw new BackendError(`backend 'wasm' cannot load: ${errText(e)}`);
    }
  }
  if (!chosen) chosen = { name: 'cpu', pkg: '@tensorflow/tfjs' };

  try {
    await activate(chosen.name);
  } catch (e) {
    if (req !== 'auto' || chosen.name === 'cpu') {
      throw e instanceof BackendError ? e : new BackendError(`backend '${chosen.name}': ${errText(e)}`);
    }
    chosen = { name: 'cpu', pkg: '@tensorflow/tfjs' };
    await activate('cpu');
  }
  const flags: BackendInfo['flags'] = { tfjs: tf.version.tfjs };
  if (chosen.name === 'wasm') {
    flags.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    flags.threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  active = { name: chosen.name, package: chosen.pkg, flags };
  return active;
}

/** The backend chosen by the last `selectBackend`, or null. */
export function activeBackend(): BackendInfo | null {
  return active;
}

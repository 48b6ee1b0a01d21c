import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../core/errors.js';
import { writeDirAtomic } from '../core/fs.js';
import type { AdamW } from './adamw.js';
import type { ParamStore } from './params.js';

/*
 * Checkpoints: a directory with `manifest.json` (names, shapes, dtypes, byte offsets, config, step, RNG
 * state, free-form metadata) and one `weights.bin` (little-endian raw tensors, concatenated). Written to a
 * temp directory then renamed. Loading parses JSON and bytes only (nothing is executed) and validates every
 * entry: names unique, shapes integral, dtypes known, sizes and offsets consistent, checksum equal.
 */

export const CHECKPOINT_FORMAT = 'dbmim-checkpoint';
export const CHECKPOINT_VERSION = 1;

export type CheckpointDtype = 'float32' | 'int32';

/** One named tensor of a checkpoint, as plain data. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  dtype: CheckpointDtype;
  data: Float32Array | Int32Array;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: CheckpointDtype;
  offset: number;
  byteLength: number;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  config: unknown;
  /** Serialized RNG streams, by purpose. */
  rng: Record<string, unknown>;
  /** Anything else the writer needs back (JSON only). */
  meta: Record<string, unknown>;
  tensors: ManifestEntry[];
  sha256: string;
}

/** A checkpoint in memory: its manifest (step, config, RNG streams, tensor index) and its tensors by name. */
export interface Checkpoint {
  manifest: CheckpointManifest;
  tensors: Map<string, CheckpointTensor>;
}

export interface SaveOptions {
  step?: number;
  config?: unknown;
  rng?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

/** Write a checkpoint directory atomically. */
export async function saveCheckpoint(
  dir: string,
  tensors: CheckpointTensor[],
  opts: SaveOptions = {},
): Promise<void> {
  const names = new Set<string>();
  let total = 0;
  const entries: ManifestEntry[] = tensors.map((t) => {
    if (names.has(t.name))
      throw new CheckpointError(`cannot save checkpoint ${dir}: duplicate tensor name '${t.name}'`);
    names.add(t.name);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length)
      throw new CheckpointError(
        `cannot save ${dir}: tensor '${t.name}' has ${t.data.length} values for shape [${t.shape}]`,
      );
    const e = {
      name: t.name,
      shape: [...t.shape],
      dtype: t.dtype,
      offset: total,
      byteLength: t.data.byteLength,
    };
    total += t.data.byteLength;
    return e;
  });
  const bytes = new Uint8Array(total);
  tensors.forEach((t, i) => {
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), entries[i]!.offset);
  });
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: opts.step ?? 0,
    config: opts.config ?? null,
    rng: opts.rng ?? {},
    meta: opts.meta ?? {},
    tensors: entries,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  await writeDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, 'weights.bin'), bytes);
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1));
  });
}

function fail(dir: string, what: string): never {
  throw new CheckpointError(`checkpoint ${dir}: ${what}`);
}

/** Read and validate a checkpoint directory. */
export function loadCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir)) fail(dir, 'directory not found');
  const mPath = join(dir, 'manifest.json');
  const wPath = join(dir, 'weights.bin');
  if (!existsSync(mPath)) fail(dir, 'manifest.json is missing (not a dbmim checkpoint?)');
  if (!existsSync(wPath)) fail(dir, 'weights.bin is missing');
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(mPath, 'utf8')) as CheckpointManifest;
  } catch (e) {
    fail(dir, `manifest.json is not valid JSON (${(e as Error).message})`);
  }
  if (m === null || typeof m !== 'object' || m.format !== CHECKPOINT_FORMAT)
    fail(
      dir,
      `manifest.json format is ${JSON.stringify((m as { format?: unknown })?.format)}, expected '${CHECKPOINT_FORMAT}'`,
    );
  if (m.version !== CHECKPOINT_VERSION)
    fail(dir, `version ${m.version} is not supported (expected ${CHECKPOINT_VERSION})`);
  if (!Array.isArray(m.tensors)) fail(dir, 'manifest.json has no tensor list');
  const size = statSync(wPath).size;
  const bytes = new Uint8Array(readFileSync(wPath));
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== m.sha256)
    fail(dir, 'weights.bin checksum does not match the manifest (truncated or corrupted file)');
  const tensors = new Map<string, CheckpointTensor>();
  for (const e of m.tensors) {
    if (typeof e?.name !== 'string' || e.name === '') fail(dir, 'a tensor entry has no name');
    if (tensors.has(e.name)) fail(dir, `duplicate tensor name '${e.name}'`);
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isInteger(s) && s >= 0))
      fail(dir, `tensor '${e.name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    if (e.dtype !== 'float32' && e.dtype !== 'int32')
      fail(dir, `tensor '${e.name}' has unsupported dtype '${e.dtype}'`);
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.byteLength !== n * 4)
      fail(dir, `tensor '${e.name}' byte length ${e.byteLength} does not match shape [${e.shape}]`);
    if (!Number.isInteger(e.offset) || e.offset < 0 || e.offset + e.byteLength > size || e.offset % 4 !== 0)
      fail(
        dir,
        `tensor '${e.name}' lies outside weights.bin (offset ${e.offset}, ${e.byteLength} bytes, file ${size} bytes)`,
      );
    const buf = bytes.buffer.slice(bytes.byteOffset + e.offset, bytes.byteOffset + e.offset + e.byteLength);
    const data = e.dtype === 'float32' ? new Float32Array(buf) : new Int32Array(buf);
    tensors.set(e.name, { name: e.name, shape: e.shape, dtype: e.dtype, data });
  }
  return { manifest: m, tensors };
}

/**
 * A checkpoint that exists only in memory (never written, so no tensor index or hash): the one way to
 * hand tensors to code that takes a {@link Checkpoint}.
 */
export function inMemoryCheckpoint(
  tensors: Map<string, CheckpointTensor>,
  opts: { config?: unknown; step?: number } = {},
): Checkpoint {
  return {
    manifest: {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step: opts.step ?? 0,
      config: opts.config ?? null,
      rng: {},
      meta: {},
      tensors: [],
      sha256: '',
    },
    tensors,
  };
}

/** Snapshot tf variables / tensors as checkpoint tensors (data copied out). */
export function toCheckpointTensors(named: { name: string; tensor: tf.Tensor }[]): CheckpointTensor[] {
  return named.map(({ name, tensor }) => {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32')
      throw new CheckpointError(`cannot save tensor '${name}' of dtype ${tensor.dtype}`);
    return {
      name,
      shape: [...tensor.shape],
      dtype: tensor.dtype,
      data: tensor.dataSync() as Float32Array | Int32Array,
    };
  });
}

/**
 * Assign checkpoint tensors to variables by name, after validating that every variable has a tensor of the
 * same shape and dtype (all problems are listed in one error). `prefix` selects checkpoint names
 * `prefix + variableName`. With `allowExtra`, tensors the variables do not use are ignored.
 */
export function assignVariables(
  ckpt: Checkpoint,
  variables: { name: string; variable: tf.Variable }[],
  opts: { prefix?: string; dir?: string } = {},
): void {
  const prefix = opts.prefix ?? '';
  const problems: string[] = [];
  for (const { name, variable } of variables) {
    const t = ckpt.tensors.get(prefix + name);
    if (!t) problems.push(`missing tensor '${prefix + name}'`);
    else if (t.shape.length !== variable.shape.length || t.shape.some((s, i) => s !== variable.shape[i]))
      problems.push(`tensor '${prefix + name}' has shape [${t.shape}], expected [${variable.shape}]`);
    else if (t.dtype !== variable.dtype)
      problems.push(`tensor '${prefix + name}' has dtype ${t.dtype}, expected ${variable.dtype}`);
  }
  if (problems.length) throw new CheckpointError(`checkpoint ${opts.dir ?? ''}: ${problems.join('; ')}`);
  for (const { name, variable } of variables) {
    const t = ckpt.tensors.get(prefix + name)!;
    tf.tidy(() => variable.assign(tf.tensor(t.data, t.shape, t.dtype)));
  }
}

/** A model whose whole training state is its parameters plus its AdamW moments and step. */
export interface TrainableState {
  readonly params: ParamStore;
  readonly optimizer: AdamW;
}

/** Save a model's parameters, optimizer moments and optimizer step (atomic). */
export async function saveTrainable(
  dir: string,
  model: TrainableState,
  opts: { config: unknown; meta?: Record<string, unknown> },
): Promise<void> {
  const tensors = toCheckpointTensors([...model.params.named(), ...model.optimizer.stateTensors()]);
  const step = model.optimizer.step; // restoreTrainable sets it back from the manifest
  await saveCheckpoint(dir, tensors, { step, config: opts.config, meta: opts.meta ?? {} });
}

/**
 * Restore what {@link saveTrainable} wrote into a model of the same architecture: every parameter and
 * moment is validated (name, shape, dtype) before anything is assigned.
 */
export function restoreTrainable(ckpt: Checkpoint, model: TrainableState, dir: string): void {
  assignVariables(
    ckpt,
    model.params.list().map((p) => ({ name: p.name, variable: p.variable })),
    { dir },
  );
  model.optimizer.loadState((n) => ckpt.tensors.get(n), ckpt.manifest.step, dir);
}

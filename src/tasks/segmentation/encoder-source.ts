import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { ModelConfig } from '../../core/config.js';
import { CheckpointError } from '../../core/errors.js';
import { TOKENS } from '../../core/tokens.js';
import {
  inMemoryCheckpoint,
  loadCheckpoint,
  type Checkpoint,
  type CheckpointTensor,
} from '../../models/checkpoint.js';
import type { NamedTensor } from '../../models/types.js';

/*
 * Where the finetuned affinity network gets its encoder: a checkpoint directory written by the MIM model
 * or the pretraining trainer (`--encoder DIR`), or the weights the pretraining trainer published under
 * the DI token `TOKENS.PretrainedEncoder`. Either way the result is an in-memory checkpoint holding only
 * the `encoder/...` tensors (optimizer moments `optim/...` are dropped), plus the checkpoint's model
 * config when it has one (so the affinity network can be built with the same encoder architecture).
 */

/** Name prefix of encoder weights in every checkpoint. */
export const ENCODER_PREFIX = 'encoder/';

/** Encoder weights ready to be assigned into an affinity network. */
export interface EncoderWeights {
  /** `encoder/...` tensors only. */
  checkpoint: Checkpoint;
  /** The model config stored with the weights (MIM checkpoints store one), else null. */
  model: ModelConfig | null;
  /** Where the weights came from, for error messages. */
  source: string;
}

/**
 * What may be registered under `TOKENS.PretrainedEncoder`: encoder tensors by name, or an object that
 * has them (a MIM model: `encoderWeights()`; or `{ weights, model? }`).
 */
export type PretrainedEncoderValue =
  | NamedTensor[]
  | { encoderWeights(): NamedTensor[]; config?: ModelConfig }
  | { weights: NamedTensor[]; model?: ModelConfig | null };

function onlyEncoder(tensors: Iterable<CheckpointTensor>): Map<string, CheckpointTensor> {
  const out = new Map<string, CheckpointTensor>();
  for (const t of tensors) if (t.name.startsWith(ENCODER_PREFIX)) out.set(t.name, t);
  return out;
}

/** The model config inside a checkpoint's `config` (MIM: `{kind, model}`; affinity: the same idea). */
function modelConfigOf(config: unknown): ModelConfig | null {
  if (config && typeof config === 'object' && 'model' in config) {
    const m = (config as { model: unknown }).model;
    if (m && typeof m === 'object' && 'embedDim' in m && 'patch' in m) return m as ModelConfig;
  }
  return null;
}

/**
 * Sub-directories tried when `dir` is a run's output directory rather than a checkpoint: a pretraining
 * run keeps the MIM model in `checkpoint/model/`, a finetuning run its network in `model/`.
 */
const RUN_CHECKPOINT_DIRS = ['checkpoint/model', 'model', 'checkpoint'];

/** `dir` itself when it is a checkpoint, else the first of {@link RUN_CHECKPOINT_DIRS} under it that is one. */
export function checkpointDirOf(dir: string): string {
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  for (const sub of RUN_CHECKPOINT_DIRS)
    if (existsSync(join(dir, sub, 'manifest.json'))) return join(dir, sub);
  return dir; // loadCheckpoint names what is missing
}

/**
 * Encoder weights of a checkpoint directory (MIM model, pretraining run or affinity network); a run's
 * output directory works too (see {@link checkpointDirOf}).
 */
export function encoderFromDir(runOrCheckpointDir: string): EncoderWeights {
  const dir = checkpointDirOf(runOrCheckpointDir);
  const ckpt = loadCheckpoint(dir);
  const tensors = onlyEncoder(ckpt.tensors.values());
  if (tensors.size === 0)
    throw new CheckpointError(
      `checkpoint ${dir}: no encoder weights (no tensor named '${ENCODER_PREFIX}...'); ` +
        `tensors present: ${[...ckpt.tensors.keys()].slice(0, 8).join(', ')}${ckpt.tensors.size > 8 ? ', ...' : ''}`,
    );
  const model = modelConfigOf(ckpt.manifest.config);
  return {
    checkpoint: inMemoryCheckpoint(tensors, { config: ckpt.manifest.config, step: ckpt.manifest.step }),
    model,
    source: dir,
  };
}

/** Encoder weights from named tensors (copied out of the tensors, so later updates do not leak in). */
export function encoderFromTensors(
  named: NamedTensor[],
  model: ModelConfig | null = null,
  source = 'pretrained encoder',
): EncoderWeights {
  const tensors = new Map<string, CheckpointTensor>();
  for (const { name, tensor } of named) {
    if (!name.startsWith(ENCODER_PREFIX)) continue;
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32')
      throw new CheckpointError(`${source}: tensor '${name}' has dtype ${tensor.dtype}, expected float32`);
    if (tensors.has(name)) throw new CheckpointError(`${source}: tensor '${name}' is given twice`);
    tensors.set(name, {
      name,
      shape: [...tensor.shape],
      dtype: tensor.dtype,
      data: (tensor.dataSync() as Float32Array | Int32Array).slice(),
    });
  }
  if (tensors.size === 0)
    throw new CheckpointError(`${source}: no encoder weights (no tensor named '${ENCODER_PREFIX}...')`);
  return { checkpoint: inMemoryCheckpoint(tensors, { config: model ? { model } : null }), model, source };
}

/** Normalize anything accepted under {@link PretrainedEncoderValue}. */
export function encoderFromValue(
  value: unknown,
  source = `DI token ${String(TOKENS.PretrainedEncoder)}`,
): EncoderWeights {
  if (Array.isArray(value)) return encoderFromTensors(value as NamedTensor[], null, source);
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.encoderWeights === 'function') {
      const cfg =
        v.config && typeof v.config === 'object' && 'embedDim' in v.config ? (v.config as ModelConfig) : null;
      return encoderFromTensors((v.encoderWeights as () => NamedTensor[]).call(value), cfg, source);
    }
    if (Array.isArray(v.weights))
      return encoderFromTensors(v.weights as NamedTensor[], (v.model as ModelConfig | null) ?? null, source);
  }
  throw new CheckpointError(
    `${source}: expected encoder tensors by name (NamedTensor[]), a MIM model or {weights, model}, got ${typeof value}`,
  );
}

/** The encoder the pretraining trainer published in `container`, or null when none is registered. */
export function encoderFromContainer(container: DependencyContainer): EncoderWeights | null {
  if (!container.isRegistered(TOKENS.PretrainedEncoder, true)) return null;
  return encoderFromValue(container.resolve(TOKENS.PretrainedEncoder));
}

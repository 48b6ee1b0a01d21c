import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { Config, ModelConfig } from '../../core/config.js';
import { ConfigError, DbmimError, InputError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { Rng } from '../../core/rng.js';
import { CropPoolSampler } from '../../data/crop-pool.js';
import { CropSampler } from '../../data/crop-sampler.js';
import type { CropBatch, LabelVolume, RawVolume } from '../../data/types.js';
import { AffinityNet, type AffinityNetOptions } from '../../models/affinity-net.js';
import { probabilityLoss } from '../../models/affinity-loss.js';
import { affinityTargets, type AffinityTargetOptions, type AffinityTargets } from './affinity-loss.js';
import {
  encoderFromContainer,
  encoderFromDir,
  encoderFromValue,
  type EncoderWeights,
  type PretrainedEncoderValue,
} from './encoder-source.js';
import { predictAffinities } from './predict.js';

/*
 * Segmentation finetuning (docs/architecture.md, "Segmentation"): an affinity network (the ViT encoder + a
 * UNETR-style decoder) starts from a pretrained MIM encoder (or from scratch, the control) and learns the
 * 3 nearest-neighbour affinities of labelled crops. Crops are cut with synchronized augmentation (raw and
 * labels flipped/transposed together), targets are the affinities of the augmented labels, the loss is
 * MSE or BCE with optional membrane-aware weights (1 + boundaryWeight on boundary voxels) and per-channel
 * weights; the encoder trains at lr * encoderLrScale. A fixed set of held-out crops gives the validation
 * loss every `validEvery` steps. Everything random draws from `config.seed` split per purpose, so a run
 * and its scratch control share crops, augmentation and decoder initialization.
 */

/** Labelled volume for finetuning. */
export interface LabelledVolume {
  raw: RawVolume;
  labels: LabelVolume;
}

/** Options of {@link finetune}. */
export interface FinetuneOptions {
  config: Config;
  /**
   * Checkpoint directory holding `encoder/...` weights (a MIM checkpoint or a pretraining run's);
   * `null` = train from scratch. When neither this nor `encoderWeights` is given, the encoder published
   * under `TOKENS.PretrainedEncoder` in `container` is used, else scratch.
   */
  encoderDir?: string | null;
  /** Encoder weights by name, as published under `TOKENS.PretrainedEncoder`. */
  encoderWeights?: PretrainedEncoderValue | EncoderWeights;
  /** DI container to look up `TOKENS.PretrainedEncoder` in. */
  container?: DependencyContainer;
  /** Training volume (crops are drawn from all of it). */
  train: LabelledVolume;
  /**
   * A label budget: train only on these labelled crops (augmented, a window of the network's crop cut from
   * each), never on the rest of `train`. Default: random crops of all of `train`.
   */
  trainCrops?: CropBatch;
  /** Held-out volume for the validation loss; none = no validation. */
  valid?: LabelledVolume;
  /** Output directory: `model/` (checkpoint), `metrics.jsonl`, `config.json`. None = nothing written. */
  outDir?: string;
  /** Called after every update with (step, training loss). */
  onStep?: (step: number, loss: number) => void;
  /** Called after every validation with (step, validation loss). */
  onValid?: (step: number, loss: number) => void;
  /**
   * Held-out crops evaluated at each validation. Default 4. (A held-out volume thinner than a crop is
   * predicted whole instead.)
   */
  validCrops?: number;
  /** Also write the checkpoint every this many steps (0 = only at the end). Default 0. */
  checkpointEvery?: number;
  /** Decoder widths etc. of the affinity network. */
  netOptions?: AffinityNetOptions;
  /** Return the trained network in the result (the caller disposes it). Default false: disposed. */
  keepModel?: boolean;
  /** Stop early (after the current step; the checkpoint is still written). */
  signal?: AbortSignal;
}

/** One point of a loss curve. */
export interface LossPoint {
  step: number;
  loss: number;
}

/** What {@link finetune} returns. */
export interface FinetuneResult {
  /** Training loss of every update (step 1..steps). */
  trainLoss: LossPoint[];
  /** Validation loss at step 0, every `validEvery` steps and at the last step (empty without `valid`). */
  validLoss: LossPoint[];
  seconds: number;
  /** The checkpoint directory (`outDir/model`), or null without `outDir`. */
  checkpointDir: string | null;
  /** Where the encoder came from: a directory, the DI token, or 'scratch'. */
  encoder: string;
  /** The model architecture used (from the encoder checkpoint when it has one, else `config.model`). */
  model: ModelConfig;
  /** The trained network when `keepModel` is set (caller disposes), else null. */
  net: AffinityNet | null;
}

/** Default number of held-out validation crops. */
const DEFAULT_VALID_CROPS = 4;

/** Architecture fields that must agree between a checkpoint's encoder and the network built for it. */
const ENCODER_FIELDS = ['patch', 'embedDim', 'depth', 'heads', 'mlpRatio', 'posEmbed'] as const;

/** Resolve the encoder source from the options (explicit dir, explicit weights, DI token, scratch). */
function resolveEncoder(opts: FinetuneOptions): EncoderWeights | null {
  if (opts.encoderDir) return encoderFromDir(opts.encoderDir);
  if (opts.encoderWeights) {
    const w = opts.encoderWeights as EncoderWeights;
    return w.checkpoint && 'source' in w ? w : encoderFromValue(opts.encoderWeights);
  }
  if (opts.encoderDir === null) return null;
  return opts.container ? encoderFromContainer(opts.container) : null;
}

/**
 * The model config of the network: the encoder checkpoint's architecture when it stores one (so a
 * `--encoder DIR` run needs no matching config), else `config.model`.
 */
function chooseModel(config: Config, enc: EncoderWeights | null): ModelConfig {
  if (!enc?.model) return config.model;
  return { ...config.model, ...pickEncoderFields(enc.model), crop: enc.model.crop ?? config.model.crop };
}

function pickEncoderFields(m: ModelConfig): Partial<ModelConfig> {
  const out: Record<string, unknown> = {};
  for (const k of ENCODER_FIELDS) if (m[k] !== undefined) out[k] = m[k];
  return out as Partial<ModelConfig>;
}

function checkVolume(v: LabelledVolume, what: string): void {
  const s = v.raw.shape;
  if (v.raw.data.length !== s[0] * s[1] * s[2])
    throw new InputError(
      `finetune ${what}: raw has ${v.raw.data.length} voxels, shape [${s}] needs ${s[0] * s[1] * s[2]}`,
    );
  if (v.labels.shape.some((x, i) => x !== s[i]))
    throw new InputError(`finetune ${what}: labels shape [${v.labels.shape}] differs from raw shape [${s}]`);
}

/** Validation loss of fixed crops: the training objective, weighted mean over all crops. */
function validationLoss(
  net: AffinityNet,
  crops: CropBatch,
  targets: AffinityTargets,
  batchSize: number,
): number {
  const vox = crops.shape[0] * crops.shape[1] * crops.shape[2];
  let sum = 0;
  let wsum = 0;
  for (let b0 = 0; b0 < crops.n; b0 += batchSize) {
    const n = Math.min(batchSize, crops.n - b0);
    const lo = b0 * 3 * vox;
    const hi = (b0 + n) * 3 * vox;
    const weight = targets.weight.subarray(lo, hi);
    let w = 0;
    for (let i = 0; i < weight.length; i++) w += weight[i]!;
    // the loss of a batch is a weighted mean: weight it back by its weight sum
    sum +=
      net.loss(crops.raw.subarray(b0 * vox, (b0 + n) * vox), n, targets.target.subarray(lo, hi), weight) * w;
    wsum += w;
  }
  return sum / Math.max(wsum, 1e-12);
}

/** Held-out data of the validation loss: fixed crops, or the whole volume when it is thinner than a crop. */
type Validation =
  | { kind: 'crops'; crops: CropBatch; targets: AffinityTargets }
  | { kind: 'volume'; raw: RawVolume; targets: AffinityTargets };

/**
 * Held-out crops drawn once and never augmented, so the curve compares like with like. A held-out volume
 * smaller than the crop on some axis (a few held-out sections) is predicted whole instead, by sliding
 * windows (which pad it), and scored on every voxel.
 */
function prepareValidation(
  net: AffinityNet,
  v: LabelledVolume,
  root: Rng,
  validCrops: number,
  targetOpts: AffinityTargetOptions,
): Validation {
  if (v.raw.shape.every((s, i) => s >= net.crop[i]!)) {
    const crops = new CropSampler(v, { crop: net.crop, rng: root.split('valid-crops') }).sample(validCrops);
    return { kind: 'crops', crops, targets: affinityTargets(crops, targetOpts) };
  }
  const whole: CropBatch = { n: 1, shape: [...v.raw.shape], raw: v.raw.data, labels: v.labels.data };
  return { kind: 'volume', raw: v.raw, targets: affinityTargets(whole, targetOpts) };
}

/**
 * Finetune an affinity network on labelled crops. Seeded by `config.seed`; see {@link FinetuneOptions}.
 */
export async function finetune(opts: FinetuneOptions): Promise<FinetuneResult> {
  const t0 = performance.now();
  const { config } = opts;
  const ft = config.finetune;
  checkVolume(opts.train, 'training volume');
  if (opts.valid) checkVolume(opts.valid, 'validation volume');
  const validCrops = opts.validCrops ?? DEFAULT_VALID_CROPS;
  if (!(Number.isInteger(validCrops) && validCrops >= 1))
    throw new ConfigError(`finetune validCrops: got ${validCrops}, expected an integer >= 1`);

  const enc = resolveEncoder(opts);
  const model = chooseModel(config, enc);
  const root = Rng.fromSeed(config.seed).split('finetune');
  const net = new AffinityNet(model, ft, root.split('model'), opts.netOptions ?? {});
  let keep = false;
  try {
    // A missing tensor or a shape mismatch names the tensor (CheckpointError from assignVariables).
    if (enc) net.loadEncoder(enc.checkpoint);
    const encoderName = enc ? enc.source : 'scratch';

    const augmentOptions = {
      noiseStd: ft.noiseAugment,
      elasticStd: ft.elasticAugment,
      elasticSpacing: ft.elasticSpacing,
    };
    const sampler = opts.trainCrops
      ? new CropPoolSampler(opts.trainCrops, {
          crop: net.crop,
          rng: root.split('train-crops'),
          augment: config.data.augment,
          augmentOptions,
          resolution: opts.train.raw.resolution,
        })
      : new CropSampler(opts.train, {
          crop: net.crop,
          rng: root.split('train-crops'),
          augment: config.data.augment,
          augmentOptions,
        });
    const targetOpts: AffinityTargetOptions = {
      boundaryWeight: ft.boundaryWeight,
      channelWeights: ft.channelWeights,
    };
    const valid = opts.valid ? prepareValidation(net, opts.valid, root, validCrops, targetOpts) : null;

    const out = opts.outDir ?? null;
    const metricsPath = out ? join(out, 'metrics.jsonl') : null;
    const checkpointDir = out ? join(out, 'model') : null;
    if (out) {
      mkdirSync(out, { recursive: true });
      writeFileAtomic(
        join(out, 'config.json'),
        JSON.stringify({ config, encoder: encoderName, model, validCrops }, null, 2) + '\n',
      );
      writeFileSync(metricsPath!, '');
    }
    const log = (rec: Record<string, unknown>) => {
      if (metricsPath) appendFileSync(metricsPath, JSON.stringify(rec) + '\n');
    };
    const saveMeta = () => ({ encoder: encoderName, seed: config.seed });

    const trainLoss: LossPoint[] = [];
    const validLoss: LossPoint[] = [];
    const validate = async (step: number) => {
      if (!valid) return;
      const loss =
        valid.kind === 'crops'
          ? validationLoss(net, valid.crops, valid.targets, ft.batchSize)
          : // the whole volume is blended from windows: its probabilities are scored by the same loss
            probabilityLoss(
              await predictAffinities(net, valid.raw, { batch: ft.batchSize }),
              valid.targets.target,
              valid.targets.weight,
              ft.loss,
            );
      validLoss.push({ step, loss });
      log({ type: 'valid', step, loss });
      opts.onValid?.(step, loss);
    };

    await validate(0);
    let step = 0;
    const every = opts.checkpointEvery ?? 0;
    while (step < ft.steps && !opts.signal?.aborted) {
      const batch = sampler.sample(ft.batchSize); // raw, labels [n, d, h, w]
      const { target, weight } = affinityTargets(batch, targetOpts); // [n, 3, d, h, w]
      const r = net.trainStep(batch.raw, batch.n, target, weight);
      step++;
      if (!Number.isFinite(r.loss))
        throw new DbmimError(
          `finetune: the training loss became ${r.loss} at step ${step} (lower finetune.lr?)`,
          'diverged',
        );
      trainLoss.push({ step, loss: r.loss });
      log({ type: 'train', step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm });
      opts.onStep?.(step, r.loss);
      if (ft.validEvery > 0 && step % ft.validEvery === 0) await validate(step);
      if (checkpointDir && every > 0 && step % every === 0 && step < ft.steps)
        await net.save(checkpointDir, saveMeta());
      // Yield to the event loop so a signal handler (Ctrl-C) can run between steps.
      if (step % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    if (valid && validLoss[validLoss.length - 1]!.step !== step) await validate(step);
    if (checkpointDir) await net.save(checkpointDir, saveMeta());
    const seconds = (performance.now() - t0) / 1000;
    log({ type: 'done', step, seconds });
    keep = opts.keepModel === true;
    return {
      trainLoss,
      validLoss,
      seconds,
      checkpointDir,
      encoder: encoderName,
      model,
      net: keep ? net : null,
    };
  } finally {
    if (!keep) net.dispose();
  }
}

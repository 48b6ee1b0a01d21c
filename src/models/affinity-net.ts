import * as tf from '@tensorflow/tfjs';
import type { FinetuneConfig, ModelConfig } from '../core/config.js';
import { CheckpointError, ConfigError, InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Shape3 } from '../data/types.js';
import { gaussianSmooth } from '../data/gaussian-smooth.js';
import { AdamW, type AdamWStepInfo } from './adamw.js';
import {
  assignVariables,
  loadCheckpoint,
  restoreTrainable,
  saveTrainable,
  type Checkpoint,
} from './checkpoint.js';
import { affinityLoss, channelsFirst } from './affinity-loss.js';
import { InPlaneUNet } from './affinity-unet.js';
import { relu } from './relu.js';
import { ConvInPlane } from './conv-inplane.js';
import { Conv3d, ConvTranspose3d } from './conv3d.js';
import { Dense } from './dense.js';
import { ParamStore } from './params.js';
import { warmupCosine } from './schedule.js';
import { RowSelection } from './select-rows.js';
import type { NamedTensor } from './types.js';
import { VitEncoder } from './vit-encoder.js';

/*
 * Affinity network for neuron segmentation: the MIM encoder (same parameter names, `encoder/...`) on all
 * patches, then a narrow UNETR-style decoder: the final tokens and the tokens of a middle block are
 * concatenated on the patch grid, projected, and upsampled by non-overlapping transposed 3-D convolutions
 * (one axis doubling per stage until the patch size is undone), then fused with features of the raw input
 * at full resolution (skip connection) and mapped to 3 affinity channels (z, y, x) with a sigmoid.
 * Training: MSE or BCE (affinity-loss.ts, also the validation loss), per-voxel weights, AdamW with two parameter groups (encoder lr scaled).
 */

/** Decoder widths and schedule options beyond FinetuneConfig. */
export interface AffinityNetOptions {
  /** Channels after the token projection and after each upsampling stage (narrow: CPU-friendly). */
  channels?: number[];
  /** Channels of the raw-input 3x3x3 branch (z context for the z affinities). */
  rawChannels?: number;
  /**
   * Widths of the levels of the in-plane (y, x) U-Net on the raw input (level 0 at full resolution, each
   * next level at half of the previous), which carries the membranes' fine position and their context
   * (the token path is 16 px coarse); [] = none (the original network).
   */
  inPlaneChannels?: number[];
  /** Kernel (in-plane, odd) of the fusion of token and raw features; 1 = pointwise (the original). */
  fuseKernel?: number;
  /**
   * Input normalization of the full-resolution path (the raw 3x3x3 branch and the in-plane U-Net):
   * `fixed` (default) maps [0, 1] intensities by the same (x - 0.5) / 0.2 everywhere; `section`
   * standardizes each section of a window by its own mean and standard deviation (brightness and
   * contrast of a section then do not move the boundaries). Checkpoints without the field load as `fixed`.
   */
  inputNorm?: InputNorm;
  /**
   * Gaussian sigma (px, in-plane, per section) of a smoothing of the raw input of the full-resolution
   * path (the encoder keeps the raw it was pretrained on); 0 = none. Checkpoints without the field load
   * as 0.
   */
  inputSigma?: number;
  /**
   * Where the encoder's tokens join the full-resolution path: `output` (default) upsamples them by
   * transposed convolutions to full resolution and adds them at the last (pointwise) fusion; `unet` adds
   * them to the in-plane U-Net's level whose resolution is the patch's (level log2(patch)), so every
   * finer level refines them with its skip features (needs that many U-Net levels). Checkpoints without
   * the field load as `output`.
   */
  tokenFusion?: TokenFusion;
  weightDecay?: number;
  /** Warmup updates before the cosine decay over `finetune.steps`. */
  warmupSteps?: number;
  clipNorm?: number;
}

/** Default decoder widths: projection, then one entry per upsampling stage (reused if fewer). */
export const AFFINITY_CHANNELS = [32, 32, 16, 16, 8];
export const AFFINITY_RAW_CHANNELS = 8;
/*
 * The in-plane U-Net is on by default: the pointwise fusion of 16 px tokens with one 3x3x3 conv of raw
 * could place membranes but not tell faint ones from texture. ISBI, scratch, crop 4x128x128, 200 steps,
 * validation sections 16-19 (VOI sum, seeds 1 / 2): without it 0.774 / 0.843; [8, 16, 32] 0.563 / 0.628
 * (y, x loss only), membrane pixel F1 0.61 -> 0.68; at 200 steps a fourth level (0.546 / 0.775) did not
 * yet win. At the full preset's budget it does (scratch, 2,000 steps, lr 5e-3, validation VOI sum, seeds
 * 1 / 2 / 3): [8, 16, 32] 0.313 / 0.251 / 0.353, [8, 16, 32, 64] 0.225 / 0.169 / 0.187 (paired mean
 * -0.112, 95 % t [-0.228, +0.004], better on 3 of 3 seeds; membrane pixel F1 0.75 -> 0.80), [8, 16, 32,
 * 64, 128] 0.192 / 0.208 / 0.191 (no better than four, and slower). A field of view of about 55 px instead
 * of 25 tells membranes from the texture inside cells; four levels since 2026-11-30. A finetuning step
 * costs ~1.3x that of three levels (`finetune_step` 140 vs 106 ms, quiet).
 */
export const AFFINITY_IN_PLANE_CHANNELS: number[] = [8, 16, 32, 64];
export const AFFINITY_FUSE_KERNEL = 1;
/** Where the encoder's tokens join the full-resolution path (see {@link AffinityNetOptions.tokenFusion}). */
export type TokenFusion = 'output' | 'unet';
/*
 * `unet` lets the encoder's features decide the boundaries (the U-Net refines them) rather than be one
 * more input of the last pointwise layer; scratch, [8, 16, 32, 64, 128], 2,000 steps, validation VOI sum
 * seed 1: 0.309 against 0.192 with the tokens at the output (one seed: a loss large enough to stop there).
 */
export const AFFINITY_TOKEN_FUSION: TokenFusion = 'output';
/** How the full-resolution path normalizes its input (see {@link AffinityNetOptions.inputNorm}). */
export type InputNorm = 'fixed' | 'section';
/*
 * ISBI's sections differ in brightness (means 0.39-0.55 over the training sections 0-15) and contrast
 * (standard deviation 0.134-0.176 there, 0.175-0.199 on 20-29), so per-section standardization looked
 * worth trying; on validation it lost (scratch, 400 steps, sections 16-19, VOI sum, seeds 2 / 3: 0.566 /
 * 0.757 against 0.443 / 0.461 fixed): a 128 px window's statistics follow its content (one large cell
 * or dense neuropil), not the section's. The fixed map stays the default.
 */
export const AFFINITY_INPUT_NORM: InputNorm = 'fixed';
/*
 * ISBI's sections come in two regimes: pixel noise (rms of raw minus its 3x3 mean) is 0.029-0.040 on
 * sections 0-14 and 0.063-0.075 on 15-29, so the training sections 0-15 are mostly clean and the
 * validation and test sections noisy. Smoothing the full-resolution input with the learning-free
 * control's sigma (1 px) brings the regimes closer. Scratch, 400 steps, validation sections 16-19, VOI
 * sum, seeds 1 / 2 / 3: 0.449 / 0.335 / 0.491 against 0.461 / 0.440 / 0.536 unsmoothed (paired mean
 * -0.054, 95 % t interval [-0.171, +0.063]: better on 3 of 3 seeds, the interval includes zero).
 * Smoothing the encoder's input too: 0.405 / 0.491 (seeds 2 / 3); noise augmentation instead
 * (`finetune.noiseAugment` 0.06): 0.439 / 0.484; both: 0.391 on seed 2.
 */
export const AFFINITY_INPUT_SIGMA = 1;

/** Each section of `[b, d, h, w, 1]` standardized by its own in-plane mean and standard deviation. */
export function standardizeSections(x: tf.Tensor5D): tf.Tensor5D {
  return tf.tidy(() => {
    const [b, d, h, w] = x.shape;
    const flat = tf.reshape(x, [b * d, h * w]);
    const { mean, variance } = tf.moments(flat, 1, true); // [b*d, 1]
    // a constant section (padding) has no contrast: it maps to 0
    const z = tf.div(tf.sub(flat, mean), tf.sqrt(tf.add(variance, 1e-6)));
    return tf.reshape(z, [b, d, h, w, 1]);
  });
}

/** Each `[d, h, w]` window of `raw` (`batch` of them) smoothed in-plane by {@link gaussianSmooth}. */
function smoothWindows(raw: Float32Array, batch: number, crop: Shape3, sigma: number): Float32Array {
  const vol = crop[0] * crop[1] * crop[2];
  const out = new Float32Array(raw.length);
  for (let b = 0; b < batch; b++)
    out.set(gaussianSmooth(raw.subarray(b * vol, (b + 1) * vol), crop, sigma), b * vol);
  return out;
}

/** The in-plane U-Net level at the patch's resolution (`unet` token fusion), checked against its widths. */
function unetTokenLevel(patch: Shape3, widths: number[]): number {
  const level = Math.log2(patch[1]);
  if (patch[1] !== patch[2] || !Number.isInteger(level))
    throw new ConfigError(
      `affinity net tokenFusion 'unet': the in-plane patch [${patch[1]}, ${patch[2]}] must be square and a power of two`,
    );
  if (widths.length <= level)
    throw new ConfigError(
      `affinity net tokenFusion 'unet': patch ${patch[1]} px needs an in-plane U-Net with at least ${level + 1} levels (inPlaneChannels), got ${widths.length}`,
    );
  return level;
}

/** Upsampling strides per stage that undo `patch` (powers of two): each stage doubles some axes. */
export function upsampleStages(patch: Shape3): [number, number, number][] {
  const logs = patch.map((p) => Math.log2(p));
  if (!logs.every((l) => Number.isInteger(l)))
    throw new InputError(`affinity net: patch [${patch}] must be powers of two for the upsampling decoder`);
  const n = Math.max(...logs);
  // axes with fewer doublings start later, so the last (finest) stages upsample all axes
  return Array.from(
    { length: n },
    (_, s) => logs.map((l) => (s >= n - l ? 2 : 1)) as [number, number, number],
  );
}

interface AffinityCheckpointConfig {
  kind: 'affinity';
  model: ModelConfig;
  finetune: FinetuneConfig;
  options: AffinityNetOptions;
}

/** Loss of one finetuning step. */
export interface AffinityStepResult {
  loss: number;
  lr: number;
  gradNorm: number;
}

export class AffinityNet {
  readonly params: ParamStore;
  readonly encoder: VitEncoder;
  readonly crop: Shape3;
  readonly numPatches: number;
  /** Index of the encoder block whose tokens feed the skip (middle of the stack). */
  readonly skipBlock: number;
  private readonly proj: Dense;
  private readonly projSkip: Dense;
  private readonly ups: ConvTranspose3d[];
  private readonly rawConv: Conv3d;
  private readonly inPlane: InPlaneUNet | null;
  /** Token features to full resolution (null when tokens enter the U-Net). */
  private readonly fuse: Dense | ConvInPlane | null;
  readonly tokenFusion: TokenFusion;
  /** The U-Net level the tokens enter (`unet` fusion), else -1. */
  private readonly tokenLevel: number;
  private readonly fuseRaw: Dense;
  private readonly fuseInPlane: ConvInPlane | null;
  private readonly head: Dense;
  readonly inputNorm: InputNorm;
  readonly inputSigma: number;
  readonly optimizer: AdamW;
  lastUpdate: AdamWStepInfo | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly finetune: FinetuneConfig,
    rng: Rng,
    readonly options: AffinityNetOptions = {},
  ) {
    this.params = new ParamStore(rng.split('init'));
    this.encoder = new VitEncoder(this.params.scope('encoder'), config);
    this.crop = [...config.crop];
    this.numPatches = this.encoder.grid.numPatches;
    this.skipBlock = Math.max(0, Math.floor(config.depth / 2) - 1);
    const ch = options.channels ?? AFFINITY_CHANNELS;
    const rc = options.rawChannels ?? AFFINITY_RAW_CHANNELS;
    const dec = this.params.scope('seg');
    const d = config.embedDim;
    // full-resolution layers are in-plane or 1x1x1: wasm's Conv3D is a naive loop, ~100x slower per MAC
    // than matMul, so only the 1-channel raw branch uses a 3x3x3 kernel
    const ip = options.inPlaneChannels ?? AFFINITY_IN_PLANE_CHANNELS;
    this.tokenFusion = options.tokenFusion ?? AFFINITY_TOKEN_FUSION;
    this.tokenLevel = this.tokenFusion === 'unet' ? unetTokenLevel(config.patch, ip) : -1;
    // dense(concat(a, b)) written as dense(a) + dense(b): the gradient of a last-axis concat is a SplitV
    // that runs ~100x slower than the matmuls in wasm
    const c0 = this.tokenLevel >= 0 ? ip[this.tokenLevel]! : ch[0]!;
    this.proj = new Dense(dec.scope('proj'), d, c0);
    this.projSkip = new Dense(dec.scope('proj_skip'), d, c0, { bias: false });
    const stages = this.tokenLevel >= 0 ? [] : upsampleStages(config.patch);
    const width = (i: number) => ch[Math.min(i, ch.length - 1)]!;
    this.ups = stages.map((s, i) => new ConvTranspose3d(dec.scope(`up/${i}`), width(i), width(i + 1), s));
    const last = width(stages.length);
    this.rawConv = new Conv3d(dec.scope('raw'), 1, rc, 3);
    this.inPlane = ip.length > 0 ? new InPlaneUNet(dec.scope('in_plane'), ip) : null;
    const fk = options.fuseKernel ?? AFFINITY_FUSE_KERNEL;
    this.inputNorm = options.inputNorm ?? AFFINITY_INPUT_NORM;
    this.inputSigma = options.inputSigma ?? AFFINITY_INPUT_SIGMA;
    if (!(this.inputSigma >= 0 && this.inputSigma <= 20))
      throw new InputError(`affinity net: inputSigma must be in [0, 20] px, got ${this.inputSigma}`);
    // dense(concat(a, b, c)) written as a sum of per-source layers (a concat's gradient is slow in wasm)
    this.fuse =
      this.tokenLevel >= 0
        ? null
        : fk === 1
          ? new Dense(dec.scope('fuse'), last, rc)
          : new ConvInPlane(dec.scope('fuse'), last, rc, fk);
    this.fuseRaw = new Dense(dec.scope('fuse_raw'), rc, rc, { bias: false });
    this.fuseInPlane = this.inPlane
      ? new ConvInPlane(dec.scope('fuse_in_plane'), this.inPlane.outCh, rc, fk)
      : null;
    this.head = new Dense(dec.scope('head'), rc, 3);
    const encParams = this.params.list('encoder/');
    const decParams = this.params.list('seg/');
    this.optimizer = new AdamW(
      [
        // a frozen encoder (probe) is left out of the optimizer: no gradient, no update, no weight decay
        ...(finetune.freezeEncoder
          ? []
          : [{ name: 'encoder', params: encParams, lrScale: finetune.encoderLrScale }]),
        { name: 'decoder', params: decParams, lrScale: 1 },
      ],
      { beta1: 0.9, beta2: 0.999, weightDecay: options.weightDecay ?? 0.01, clipNorm: options.clipNorm ?? 1 },
      warmupCosine({
        lr: finetune.lr,
        minLr: finetune.lr * 0.01,
        warmupSteps: options.warmupSteps ?? Math.min(20, Math.floor(finetune.steps / 10)),
        totalSteps: Math.max(1, finetune.steps),
      }),
    );
  }

  get step(): number {
    return this.optimizer.step;
  }

  /** Encoder tokens (normed) for all patches: `[batch*numPatches, D]` plus the skip block's tokens. */
  private tokens(raw: Float32Array, batch: number): { out: tf.Tensor2D; mid: tf.Tensor2D } {
    const g = this.encoder.grid;
    const np = this.numPatches;
    const patches = tf.tensor2d(g.patchify(raw, batch), [batch * np, g.patchVoxels]);
    const sel = RowSelection.tiled(batch, np); // every patch of every sample, in order
    try {
      const x = this.encoder.embed(patches, sel);
      const { out, hidden } = this.encoder.run(x, batch, np, null, [this.skipBlock]);
      return { out, mid: hidden[0]! };
    } finally {
      sel.dispose();
    }
  }

  /** Affinity logits, channels-last `[batch, d, h, w, 3]`. */
  private logits(raw: Float32Array, batch: number): tf.Tensor5D {
    this.encoder.grid.checkRaw(raw, batch);
    const [gz, gy, gx] = this.encoder.grid.grid;
    const [d, h, w] = this.crop;
    const { out, mid } = this.tokens(raw, batch);
    const t = relu(tf.add(this.proj.apply(out), this.projSkip.apply(mid))); // [b*np, c0]
    const full = this.inputSigma > 0 ? smoothWindows(raw, batch, this.crop, this.inputSigma) : raw;
    const x = tf.tensor5d(full, [batch, d, h, w, 1]);
    // standardized like the encoder's input (fixed) or per section, so the first convs start in range
    const xs: tf.Tensor5D =
      this.inputNorm === 'section' ? standardizeSections(x) : tf.div(tf.sub(x, 0.5), 0.2);
    const r = this.rawConv.apply(this.inputNorm === 'section' ? xs : x, { relu: true }); // [b, d, h, w, rc]
    const r2 = tf.reshape(r, [-1, r.shape[4]]) as tf.Tensor2D; // [voxels, rc]
    let sum = this.fuseRaw.apply(r2); // [voxels, rc]
    if (this.fuse) {
      // tokens upsampled to full resolution: [b, gz, gy, gx, c0] -> [b, d, h, w, c]
      let f = tf.reshape(t, [batch, gz, gy, gx, this.proj.outDim]) as tf.Tensor5D;
      for (const up of this.ups) f = relu(up.apply(f));
      const fv =
        this.fuse instanceof Dense
          ? this.fuse.apply(tf.reshape(f, [-1, f.shape[4]]) as tf.Tensor2D)
          : tf.reshape(this.fuse.apply(f), [-1, this.fuse.outCh]);
      sum = tf.add(sum, fv);
    }
    if (this.inPlane && this.fuseInPlane) {
      // tokens enter the U-Net at their own resolution, each section of a patch getting its token:
      // [b*gz, 1, gy*gx, c] broadcast to [b*gz, pz, gy*gx, c] = [b, d, gy, gx, c] (its gradient is a sum)
      const inject =
        this.tokenLevel >= 0
          ? {
              level: this.tokenLevel,
              features: tf.reshape(
                tf.broadcastTo(tf.reshape(t, [batch * gz, 1, gy * gx, this.proj.outDim]), [
                  batch * gz,
                  this.config.patch[0],
                  gy * gx,
                  this.proj.outDim,
                ]),
                [batch, d, gy, gx, this.proj.outDim],
              ) as tf.Tensor5D,
            }
          : undefined;
      const p = this.inPlane.apply(xs, inject); // [b, d, h, w, c]
      sum = tf.add(sum, tf.reshape(this.fuseInPlane.apply(p), [-1, this.fuseInPlane.outCh]));
    }
    const fused = relu(sum); // [voxels, rc]
    return tf.reshape(this.head.apply(fused), [batch, d, h, w, 3]) as tf.Tensor5D;
  }

  /** Affinities in [0, 1]: raw `[batch, d, h, w]` -> `[batch, 3, d, h, w]` (channel z, y, x). */
  predict(raw: Float32Array, batch: number): Float32Array {
    // never return a large typed array from tf.tidy: it scans every element looking for tensors
    const t = tf.tidy(() => tf.sigmoid(this.logitsChannelsFirst(raw, batch)));
    const out = t.dataSync() as Float32Array;
    t.dispose();
    return out;
  }

  /** Affinity logits channels-first `[batch, 3, d, h, w]`, the layout of targets and predictions. */
  private logitsChannelsFirst(raw: Float32Array, batch: number): tf.Tensor5D {
    return channelsFirst(this.logits(raw, batch), [batch, 3, ...this.crop]) as tf.Tensor5D;
  }

  /** Encoder output tokens without gradient: `[batch, numPatches, D]` (caller disposes). */
  encode(raw: Float32Array, batch: number): tf.Tensor3D {
    this.encoder.grid.checkRaw(raw, batch);
    return tf.tidy(() =>
      tf.reshape(this.tokens(raw, batch).out, [batch, this.numPatches, this.config.embedDim]),
    );
  }

  /** Targets and weights `[batch, 3, d, h, w]` as tensors (caller disposes). */
  private targetTensors(
    batch: number,
    targets: Float32Array,
    weights?: Float32Array,
  ): { tgt: tf.Tensor5D; wt: tf.Tensor5D | null } {
    const n = batch * 3 * this.crop[0] * this.crop[1] * this.crop[2];
    if (targets.length !== n)
      throw new InputError(
        `affinity targets: ${targets.length} values, expected [${batch}, 3, ${this.crop}] = ${n}`,
      );
    if (weights && weights.length !== n)
      throw new InputError(
        `affinity weights: ${weights.length} values, expected [${batch}, 3, ${this.crop}] = ${n}`,
      );
    const shape: [number, number, number, number, number] = [batch, 3, ...this.crop];
    const tgt = tf.tensor5d(targets, shape);
    const wt = weights ? tf.tensor5d(weights, shape) : null;
    return { tgt, wt };
  }

  /**
   * One update. targets `[batch, 3, d, h, w]` in [0, 1]; optional per-voxel weights of the same shape.
   * The loss ({@link affinityLoss}: BCE on logits or MSE on probabilities, per `finetune.loss`) is
   * the weighted mean before the update, the same number {@link loss} gives.
   */
  trainStep(
    raw: Float32Array,
    batch: number,
    targets: Float32Array,
    weights?: Float32Array,
  ): AffinityStepResult {
    const { tgt, wt } = this.targetTensors(batch, targets, weights);
    try {
      const { value, grads } = tf.variableGrads(
        () => affinityLoss(this.logits(raw, batch), tgt, wt, this.finetune.loss, 'channelsLast'),
        this.optimizer.variables(),
      );
      const loss = value.dataSync()[0]!;
      value.dispose();
      this.lastUpdate = this.optimizer.apply(grads);
      tf.dispose(grads);
      return { loss, lr: this.lastUpdate.lr, gradNorm: this.lastUpdate.gradNorm };
    } finally {
      tgt.dispose();
      wt?.dispose();
    }
  }

  /** The training objective of a batch without an update (validation): arguments as {@link trainStep}. */
  loss(raw: Float32Array, batch: number, targets: Float32Array, weights?: Float32Array): number {
    const { tgt, wt } = this.targetTensors(batch, targets, weights);
    try {
      const t = tf.tidy(() =>
        affinityLoss(this.logits(raw, batch), tgt, wt, this.finetune.loss, 'channelsLast'),
      );
      const v = t.dataSync()[0]!;
      t.dispose();
      return v;
    } finally {
      tgt.dispose();
      wt?.dispose();
    }
  }

  namedWeights(): NamedTensor[] {
    return this.params.named();
  }

  /**
   * Load the encoder weights by name from a MIM (or affinity) checkpoint directory or object. Every
   * `encoder/...` weight of this network must be present with the same shape; others are ignored.
   */
  loadEncoder(src: string | Checkpoint): void {
    const ckpt = typeof src === 'string' ? loadCheckpoint(src) : src;
    assignVariables(
      ckpt,
      this.params.list('encoder/').map((p) => ({ name: p.name, variable: p.variable })),
      { dir: typeof src === 'string' ? src : 'encoder weights' },
    );
  }

  /** A network whose encoder matches a MIM checkpoint's architecture, with its encoder weights loaded. */
  static fromMimCheckpoint(
    dir: string,
    finetune: FinetuneConfig,
    rng: Rng,
    options: AffinityNetOptions = {},
  ): AffinityNet {
    const ckpt = loadCheckpoint(dir);
    const cfg = ckpt.manifest.config as { kind?: string; model?: ModelConfig } | null;
    if (!cfg?.model)
      throw new CheckpointError(`checkpoint ${dir}: no model config (not a dbmim MIM checkpoint)`);
    const net = new AffinityNet(cfg.model, finetune, rng, options);
    try {
      net.loadEncoder(ckpt);
    } catch (e) {
      net.dispose();
      throw e;
    }
    return net;
  }

  /** Write weights, optimizer moments, step and config (atomic). */
  async save(dir: string, extra: Record<string, unknown> = {}): Promise<void> {
    const config: AffinityCheckpointConfig = {
      kind: 'affinity',
      model: this.config,
      finetune: this.finetune,
      // the resolved normalization: a later default must not change what a saved network computes
      options: {
        ...this.options,
        inputNorm: this.inputNorm,
        inputSigma: this.inputSigma,
        inPlaneChannels: this.inPlane ? [...this.inPlane.widths] : [],
        tokenFusion: this.tokenFusion,
      },
    };
    await saveTrainable(dir, this, { config, meta: extra });
  }

  /** Rebuild from {@link save}. */
  static async load(dir: string): Promise<AffinityNet> {
    const ckpt = loadCheckpoint(dir);
    const cfg = ckpt.manifest.config as AffinityCheckpointConfig | null;
    if (!cfg || cfg.kind !== 'affinity')
      throw new CheckpointError(`checkpoint ${dir}: not an affinity network checkpoint`);
    // networks saved before inputNorm / inputSigma / tokenFusion existed: the fixed map, no smoothing,
    // tokens at the output; before the U-Net widths were saved: the [8, 16, 32] of that time
    const options: AffinityNetOptions = {
      ...cfg.options,
      inputNorm: cfg.options.inputNorm ?? 'fixed',
      inputSigma: cfg.options.inputSigma ?? 0,
      inPlaneChannels: cfg.options.inPlaneChannels ?? [8, 16, 32],
      tokenFusion: cfg.options.tokenFusion ?? 'output',
    };
    if (options.tokenFusion !== 'output' && options.tokenFusion !== 'unet')
      throw new CheckpointError(`checkpoint ${dir}: options.tokenFusion must be 'output' or 'unet'`);
    if (typeof options.inputSigma !== 'number' || !(options.inputSigma >= 0 && options.inputSigma <= 20))
      throw new CheckpointError(`checkpoint ${dir}: options.inputSigma must be a number in [0, 20]`);
    const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0), options);
    try {
      restoreTrainable(ckpt, net, dir);
    } catch (e) {
      net.dispose();
      throw e;
    }
    return net;
  }

  dispose(): void {
    this.encoder.dispose();
    this.optimizer.dispose();
    this.params.dispose();
  }
}

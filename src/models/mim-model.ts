import * as tf from '@tensorflow/tfjs';
import { modelSizeProblem, type ModelConfig, type OptimConfig } from '../core/config.js';
import { CheckpointError, InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { patchMembraneProxy } from '../data/membrane.js';
import type { Shape3 } from '../data/types.js';
import { AdamW, type AdamWStepInfo } from './adamw.js';
import { keyBiasFromCounts } from './attention.js';
import {
  assignVariables,
  inMemoryCheckpoint,
  loadCheckpoint,
  restoreTrainable,
  saveTrainable,
  toCheckpointTensors,
  type Checkpoint,
} from './checkpoint.js';
import { Dense } from './dense.js';
import { LayerNorm } from './layer-norm.js';
import { NeighborMix } from './neighbor-mix.js';
import { hogDim, hogFeatures, normalizePatches, patchMoments } from './mim-targets.js';
import { ParamStore } from './params.js';
import { sincosPosEmbed3d } from './pos-embed.js';
import { warmupCosine } from './schedule.js';
import { RowSelection } from './select-rows.js';
import { TransformerBlock } from './transformer-block.js';
import type { MimModelLike, MimStepResult, NamedTensor } from './types.js';
import { VitEncoder } from './vit-encoder.js';

/*
 * Masked image modeling on 3-D crops (MAE style, the paper's setting). The encoder sees only the visible
 * patches of each sample; samples with fewer visible patches are padded to the batch's largest count and
 * their padded keys are masked in attention. A light decoder takes the encoded visible tokens, puts a
 * learned mask token at every masked position (plus position embeddings) and predicts the voxels of every
 * patch. With `decoderNeighbors` (default) each decoder token first gets a learned map of its visible face
 * neighbours' tokens (NeighborMix), so masked patches see their local context without attention having
 * to learn to find it. Loss: MSE on masked patches against per-patch-normalized voxels, optionally
 * weighted by the membrane proxy, plus optional gradient ("structure") and HOG terms. `mode: 'simmim'`
 * instead runs the encoder on all tokens with an encoder mask token at masked positions.
 *
 * Parameter names: encoder/... (see VitEncoder; plus encoder/mask_token in simmim mode), decoder/embed,
 * decoder/mask_token, decoder/pos_embed (learned only), decoder/neighbors (decoderNeighbors, a grid of more
 * than one patch), decoder/blocks/<i>, decoder/norm, decoder/pred, decoder/hog (when hogWeight > 0).
 * Optimizer moments: optim/m/<name>, optim/v/<name>.
 */

/** Options beyond ModelConfig / OptimConfig. */
export interface MimModelOptions {
  /** Updates over which the cosine schedule decays to minLr (default 1000). */
  totalSteps?: number;
}

/** Checkpoint `config` of a MIM model. */
interface MimCheckpointConfig {
  kind: 'mim';
  model: ModelConfig;
  optim: OptimConfig;
  totalSteps: number;
}

/**
 * How the encoder sees a batch, by mode. MAE: only the visible patches of each sample, padded to the
 * batch's largest visible count (padded keys masked in attention), scattered back to all patches before
 * the decoder. SimMIM: every patch, masked ones replaced by the encoder mask token.
 */
type EncoderInput =
  | {
      mode: 'mae';
      /** Encoder tokens per sample (the largest visible count). */
      tokens: number;
      /** `[batch*tokens, patchVoxels]` visible patches. */
      input: tf.Tensor2D;
      /** Encoder row -> its patch's position embedding. */
      posSel: RowSelection;
      /** Attention bias of the padded keys (null: no sample is padded). */
      keyBias: tf.Tensor4D | null;
      /** Encoded visible rows -> decoder rows. */
      scatter: RowSelection;
    }
  | {
      mode: 'simmim';
      /** Encoder tokens per sample (numPatches). */
      tokens: number;
      /** `[batch*numPatches, patchVoxels]` every patch. */
      input: tf.Tensor2D;
      posSel: RowSelection;
      /** `[batch*numPatches, 1]` = 1 - mask. */
      keep: tf.Tensor2D;
    };

/** What the loss compares the prediction with (both modes). */
interface LossInputs {
  /** `[batch*numPatches, patchVoxels]` per-patch-normalized voxels. */
  target: tf.Tensor2D;
  /** HOG features of the target (null: the HOG term is off). */
  hogTarget: tf.Tensor2D | null;
  /** `[batch*numPatches]`: loss weight per patch (0 for visible), summing to 1. */
  rowWeight: tf.Tensor1D;
  /** `[batch*numPatches]`: 1 for masked patches. */
  maskF: tf.Tensor1D;
}

/** Everything one forward pass needs, prepared in JS from (raw, mask). */
interface PreparedBatch {
  batch: number;
  maskRatio: number;
  encoder: EncoderInput;
  /** `[batch*numPatches, 1]` mask token placement (decoder, and encoder in simmim). */
  maskSel: RowSelection;
  /** Decoder row -> its patch's position embedding. */
  decPosSel: RowSelection;
  loss: LossInputs;
  /** Every tensor above, disposed together after the pass. */
  tensors: { dispose(): void }[];
}

/** Collects tensors for disposal after a pass. */
type Track = <T extends { dispose(): void }>(t: T) => T;

/** The MIM model: encoder, light decoder, loss and its own AdamW optimizer. */
export class MimModel implements MimModelLike {
  readonly crop: Shape3;
  readonly patch: Shape3;
  readonly grid: Shape3;
  readonly numPatches: number;
  readonly embedDim: number;
  readonly params: ParamStore;
  readonly encoder: VitEncoder;
  private readonly encMaskToken: tf.Variable | null;
  private readonly decEmbed: Dense;
  private readonly decMaskToken: tf.Variable;
  private readonly decPos: tf.Tensor2D;
  private readonly decNeighbors: NeighborMix | null;
  private readonly decBlocks: TransformerBlock[];
  private readonly decNorm: LayerNorm;
  private readonly decPred: Dense;
  private readonly hogHead: Dense | null;
  private readonly hogDim: number;
  readonly optimizer: AdamW;
  readonly totalSteps: number;
  /** Info about the last update (learning rate, gradient norm). */
  lastUpdate: AdamWStepInfo | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly optimConfig: OptimConfig,
    rng: Rng,
    opts: MimModelOptions = {},
  ) {
    checkModelConfig(config);
    this.totalSteps = opts.totalSteps ?? 1000;
    this.params = new ParamStore(rng.split('init'));
    const enc = this.params.scope('encoder');
    this.encoder = new VitEncoder(enc, config);
    const g = this.encoder.grid;
    this.crop = [...config.crop];
    this.patch = [...config.patch];
    this.grid = g.grid;
    this.numPatches = g.numPatches;
    this.embedDim = config.embedDim;
    this.encMaskToken =
      config.mode === 'simmim'
        ? enc.add('mask_token', [1, config.embedDim], { kind: 'normal', std: 0.02 })
        : null;
    const dec = this.params.scope('decoder');
    const dd = config.decoderDim;
    this.decEmbed = new Dense(dec.scope('embed'), config.embedDim, dd);
    this.decMaskToken = dec.add('mask_token', [1, dd], { kind: 'normal', std: 0.02 });
    this.decPos =
      config.posEmbed === 'learned'
        ? (dec.add('pos_embed', [this.numPatches, dd], {
            kind: 'normal',
            std: 0.02,
          }) as unknown as tf.Tensor2D)
        : tf.tensor2d(sincosPosEmbed3d(this.grid, dd), [this.numPatches, dd]);
    // `=== true`: checkpoints written before the option existed have no such field and no such weights
    this.decNeighbors =
      config.decoderNeighbors === true ? new NeighborMix(dec.scope('neighbors'), this.grid, dd) : null;
    this.decBlocks = Array.from(
      { length: config.decoderDepth },
      (_, i) => new TransformerBlock(dec.scope(`blocks/${i}`), dd, config.decoderHeads, config.mlpRatio),
    );
    this.decNorm = new LayerNorm(dec.scope('norm'), dd);
    this.decPred = new Dense(dec.scope('pred'), dd, g.patchVoxels);
    this.hogDim = hogDim(this.patch);
    this.hogHead = config.hogWeight > 0 ? new Dense(dec.scope('hog'), dd, this.hogDim) : null;
    this.optimizer = new AdamW(
      [{ name: 'all', params: this.params.list(), lrScale: 1 }],
      {
        beta1: optimConfig.beta1,
        beta2: optimConfig.beta2,
        weightDecay: optimConfig.weightDecay,
        clipNorm: optimConfig.clipNorm,
      },
      warmupCosine({
        lr: optimConfig.lr,
        minLr: optimConfig.minLr,
        warmupSteps: optimConfig.warmupSteps,
        totalSteps: this.totalSteps,
      }),
    );
  }

  get step(): number {
    return this.optimizer.step;
  }

  /** Build the JS-side inputs of one forward pass. */
  private prepare(raw: Float32Array, batch: number, mask: Uint8Array): PreparedBatch {
    const g = this.encoder.grid;
    g.checkRaw(raw, batch);
    g.checkMask(mask, batch);
    const np = this.numPatches;
    const tensors: { dispose(): void }[] = [];
    const track: Track = (t) => (tensors.push(t), t);
    const patches = g.patchify(raw, batch); // [b*np, pv]
    let masked = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i]) masked++;

    const maskPairs: [number, number][] = [];
    for (let i = 0; i < batch * np; i++) if (mask[i]) maskPairs.push([i, 0]);
    const decPosSel = track(RowSelection.tiled(batch, np));
    return {
      batch,
      maskRatio: masked / mask.length,
      encoder:
        this.config.mode === 'simmim'
          ? this.simmimInput(patches, batch, mask, decPosSel, track)
          : this.maeInput(patches, batch, mask, track),
      maskSel: track(new RowSelection(batch * np, 1, maskPairs)),
      decPosSel,
      loss: this.lossInputs(raw, patches, batch, mask, track),
      tensors,
    };
  }

  /** Targets and weights: masked patches, times 1 + w * membrane proxy, normalized to sum 1. */
  private lossInputs(
    raw: Float32Array,
    patches: Float32Array,
    batch: number,
    mask: Uint8Array,
    track: Track,
  ): LossInputs {
    const rows = batch * this.numPatches;
    const pv = this.encoder.grid.patchVoxels;
    const w = new Float32Array(rows);
    const maskArr = new Float32Array(rows);
    const mw = this.config.membraneWeight;
    const proxy = mw > 0 ? patchMembraneProxy(raw, batch, this.crop, this.patch) : null;
    let wsum = 0;
    for (let i = 0; i < rows; i++) {
      if (!mask[i]) continue;
      maskArr[i] = 1;
      w[i] = proxy ? 1 + mw * proxy[i]! : 1;
      wsum += w[i]!;
    }
    if (wsum > 0) for (let i = 0; i < rows; i++) w[i]! /= wsum;
    const norm = normalizePatches(patches, rows, pv);
    return {
      target: track(tf.tensor2d(norm, [rows, pv])),
      hogTarget: this.hogHead
        ? track(tf.tensor2d(hogFeatures(norm, rows, this.patch), [rows, this.hogDim]))
        : null,
      rowWeight: track(tf.tensor1d(w)),
      maskF: track(tf.tensor1d(maskArr)),
    };
  }

  /** SimMIM: every patch, with the keep mask; positions as the decoder's. */
  private simmimInput(
    patches: Float32Array,
    batch: number,
    mask: Uint8Array,
    posSel: RowSelection,
    track: Track,
  ): EncoderInput {
    const rows = batch * this.numPatches;
    const keep = new Float32Array(rows);
    for (let i = 0; i < rows; i++) keep[i] = mask[i] ? 0 : 1;
    return {
      mode: 'simmim',
      tokens: this.numPatches,
      input: track(tf.tensor2d(patches, [rows, this.encoder.grid.patchVoxels])),
      posSel,
      keep: track(tf.tensor2d(keep, [rows, 1])),
    };
  }

  /** MAE: visible patches of each sample, padded to the largest visible count. */
  private maeInput(patches: Float32Array, batch: number, mask: Uint8Array, track: Track): EncoderInput {
    const np = this.numPatches;
    const pv = this.encoder.grid.patchVoxels;
    const counts = new Int32Array(batch);
    for (let b = 0; b < batch; b++) for (let p = 0; p < np; p++) if (!mask[b * np + p]) counts[b]!++;
    const tv = Math.max(1, ...counts);
    const vis = new Float32Array(batch * tv * pv);
    const posPairs: [number, number][] = [];
    const scatterPairs: [number, number][] = [];
    for (let b = 0; b < batch; b++) {
      let i = 0;
      for (let p = 0; p < np; p++) {
        if (mask[b * np + p]) continue;
        vis.set(patches.subarray((b * np + p) * pv, (b * np + p + 1) * pv), (b * tv + i) * pv);
        posPairs.push([b * tv + i, p]);
        scatterPairs.push([b * np + p, b * tv + i]);
        i++;
      }
    }
    const keyBias = keyBiasFromCounts(counts, tv);
    return {
      mode: 'mae',
      tokens: tv,
      input: track(tf.tensor2d(vis, [batch * tv, pv])),
      posSel: track(new RowSelection(batch * tv, np, posPairs)),
      keyBias: keyBias ? track(keyBias) : null,
      scatter: track(new RowSelection(batch * np, batch * tv, scatterPairs)),
    };
  }

  /** Forward pass and loss. Returns the scalar objective and the per-patch voxel MSE `[batch*numPatches]`. */
  private lossOf(pb: PreparedBatch): { loss: tf.Scalar; perPatch: tf.Tensor1D } {
    const cfg = this.config;
    const y = this.decoderTokens(pb); // [b*np, Dd]
    const pred = this.decPred.apply(y); // [b*np, pv]
    const { target, hogTarget, rowWeight, maskF } = pb.loss;
    const err = tf.sub(pred, target) as tf.Tensor2D;
    const perPatch = tf.mean(tf.square(err), -1) as tf.Tensor1D; // [b*np]
    let objective: tf.Tensor1D = perPatch;
    if (cfg.structureWeight > 0)
      objective = tf.add(objective, tf.mul(this.structureLoss(err), cfg.structureWeight));
    if (this.hogHead && hogTarget) {
      const hog = tf.mean(tf.square(tf.sub(this.hogHead.apply(y), hogTarget)), -1) as tf.Tensor1D;
      objective = tf.add(objective, tf.mul(hog, cfg.hogWeight));
    }
    const loss = tf.sum(tf.mul(objective, rowWeight)) as tf.Scalar;
    return { loss, perPatch: tf.mul(perPatch, maskF) as tf.Tensor1D };
  }

  /** Per-patch mean squared finite difference of the error (z, y, x inside the patch): `[rows]`. */
  private structureLoss(err: tf.Tensor2D): tf.Tensor1D {
    const [pd, ph, pw] = this.patch;
    const rows = err.shape[0];
    const e = tf.reshape(err, [rows, pd, ph, pw]);
    const terms: tf.Tensor[] = [];
    const diff = (axis: number, n: number) => {
      if (n < 2) return;
      const size = [rows, pd, ph, pw];
      size[axis] = n - 1;
      const start = [0, 0, 0, 0];
      start[axis] = 1;
      const d = tf.sub(tf.slice(e, start, size), tf.slice(e, [0, 0, 0, 0], size));
      terms.push(tf.mean(tf.reshape(tf.square(d), [rows, -1]), -1));
    };
    diff(1, pd);
    diff(2, ph);
    diff(3, pw);
    if (!terms.length) return tf.zeros([rows]);
    return tf.div(tf.addN(terms), terms.length) as tf.Tensor1D;
  }

  /** One AdamW update on a batch with per-sample masks (1 = masked). */
  trainStep(raw: Float32Array, batch: number, mask: Uint8Array): MimStepResult {
    const pb = this.prepare(raw, batch, mask);
    let perPatch: tf.Tensor1D | null = null;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const r = this.lossOf(pb);
        perPatch = tf.keep(r.perPatch);
        return r.loss;
      }, this.optimizer.variables());
      const loss = value.dataSync()[0]!;
      value.dispose();
      this.lastUpdate = this.optimizer.apply(grads);
      tf.dispose(grads);
      return {
        loss,
        perPatchLoss: (perPatch as unknown as tf.Tensor1D).dataSync() as Float32Array,
        maskRatio: pb.maskRatio,
      };
    } finally {
      if (perPatch) (perPatch as tf.Tensor).dispose();
      for (const t of pb.tensors) t.dispose();
    }
  }

  /** The loss without an update. */
  evaluate(raw: Float32Array, batch: number, mask: Uint8Array): MimStepResult {
    const pb = this.prepare(raw, batch, mask);
    try {
      // tensors out of the tidy, data read after (tidy scans returned arrays element by element)
      const [lt, pt] = tf.tidy(() => {
        const r = this.lossOf(pb);
        return [r.loss, r.perPatch];
      });
      const loss = lt.dataSync()[0]!;
      const per = pt.dataSync() as Float32Array;
      tf.dispose([lt, pt]);
      return { loss, perPatchLoss: per, maskRatio: pb.maskRatio };
    } finally {
      for (const t of pb.tensors) t.dispose();
    }
  }

  /**
   * Reconstruction in voxel space `[batch, d, h, w]`: masked patches are the de-normalized predictions
   * (with each patch's true mean and std, as MAE visualizes), visible patches are the input.
   */
  reconstruct(raw: Float32Array, batch: number, mask: Uint8Array): Float32Array {
    const pb = this.prepare(raw, batch, mask);
    try {
      const pt = tf.tidy(() => this.decPred.apply(this.decoderTokens(pb)));
      const pred = pt.dataSync() as Float32Array;
      pt.dispose();
      const g = this.encoder.grid;
      const patches = g.patchify(raw, batch);
      const pv = g.patchVoxels;
      for (let r = 0; r < batch * this.numPatches; r++) {
        if (!mask[r]) continue;
        const { mean, std } = patchMoments(patches, r, pv);
        for (let i = r * pv; i < (r + 1) * pv; i++) patches[i] = pred[i]! * std + mean;
      }
      return g.unpatchify(patches, batch);
    } finally {
      for (const t of pb.tensors) t.dispose();
    }
  }

  /** Encoder on the prepared tokens, then the decoder up to its final norm: `[batch*numPatches, Dd]`. */
  private decoderTokens(pb: PreparedBatch): tf.Tensor2D {
    const enc = pb.encoder;
    let x = this.encoder.project(enc.input); // [b*te, D]
    if (enc.mode === 'simmim' && this.encMaskToken)
      x = tf.add(tf.mul(x, enc.keep), pb.maskSel.apply(this.encMaskToken)) as tf.Tensor2D;
    x = tf.add(x, enc.posSel.apply(this.encoder.pos)) as tf.Tensor2D;
    const keyBias = enc.mode === 'mae' ? enc.keyBias : null;
    const { out } = this.encoder.run(x, pb.batch, enc.tokens, keyBias);
    let y = this.decEmbed.apply(out); // [b*te, Dd]
    // [b*np, Dd]: the encoded visible patches, zeros at masked ones (what NeighborMix reads)
    let visible = y;
    if (enc.mode === 'mae') {
      visible = enc.scatter.apply(y);
      // the decoder sees every patch: encoded visible rows plus mask tokens
      y = tf.add(visible, pb.maskSel.apply(this.decMaskToken)) as tf.Tensor2D;
    } else if (this.decNeighbors) visible = tf.mul(y, enc.keep) as tf.Tensor2D;
    if (this.decNeighbors) y = this.decNeighbors.apply(y, visible, pb.batch);
    y = tf.add(y, pb.decPosSel.apply(this.decPos)) as tf.Tensor2D; // [b*np, Dd]
    for (const blk of this.decBlocks) y = blk.apply(y, pb.batch, this.numPatches, null);
    return this.decNorm.apply(y);
  }

  /** All-patch tokens before the transformer: `[batch*numPatches, D]` (inside a tidy). */
  private embedAll(raw: Float32Array, batch: number): tf.Tensor2D {
    const g = this.encoder.grid;
    g.checkRaw(raw, batch);
    const np = this.numPatches;
    const patches = tf.tensor2d(g.patchify(raw, batch), [batch * np, g.patchVoxels]);
    const posSel = RowSelection.tiled(batch, np);
    try {
      return this.encoder.embed(patches, posSel);
    } finally {
      posSel.dispose();
    }
  }

  embedPatches(raw: Float32Array, batch: number): tf.Tensor3D {
    return tf.tidy(() => tf.reshape(this.embedAll(raw, batch), [batch, this.numPatches, this.embedDim]));
  }

  encode(raw: Float32Array, batch: number): tf.Tensor3D {
    return tf.tidy(() => {
      const x = this.embedAll(raw, batch);
      const { out } = this.encoder.run(x, batch, this.numPatches, null);
      return tf.reshape(out, [batch, this.numPatches, this.embedDim]);
    });
  }

  namedWeights(): NamedTensor[] {
    return this.params.named();
  }

  /** Encoder weights by name (`encoder/...`; the variables themselves). */
  encoderWeights(): NamedTensor[] {
    return this.params.named('encoder/');
  }

  /** Assign encoder weights by name; every encoder weight must be present with the same shape. */
  setEncoderWeights(src: NamedTensor[] | Checkpoint, where = 'encoder weights'): void {
    const ckpt = 'manifest' in src ? src : namedToCheckpoint(src);
    assignVariables(
      ckpt,
      this.params.list('encoder/').map((p) => ({ name: p.name, variable: p.variable })),
      { dir: where },
    );
  }

  /** Forward multiply-adds per sample at a mask ratio (for GFLOP/s figures). */
  macsPerSample(maskRatio: number): number {
    const np = this.numPatches;
    const te = this.config.mode === 'simmim' ? np : Math.max(1, Math.round(np * (1 - maskRatio)));
    const dec = this.decBlocks.reduce((s, blk) => s + blk.macs(np), 0);
    return (
      this.encoder.macs(te) +
      te * this.decEmbed.macsPerRow +
      np * (this.decNeighbors?.macsPerRow ?? 0) +
      dec +
      np * this.decPred.macsPerRow +
      (this.hogHead ? np * this.hogHead.macsPerRow : 0)
    );
  }

  /** Write weights, optimizer moments, step and config (atomic). */
  async save(dir: string, extra: Record<string, unknown> = {}): Promise<void> {
    const config: MimCheckpointConfig = {
      kind: 'mim',
      model: this.config,
      optim: this.optimConfig,
      totalSteps: this.totalSteps,
    };
    await saveTrainable(dir, this, { config, meta: extra });
  }

  /** Restore weights, moments and step written by {@link save} into this model (same architecture). */
  async load(dir: string): Promise<Record<string, unknown>> {
    const ckpt = loadCheckpoint(dir);
    const cfg = ckpt.manifest.config as MimCheckpointConfig | null;
    if (!cfg || cfg.kind !== 'mim')
      throw new CheckpointError(`checkpoint ${dir}: not a MIM model checkpoint`);
    restoreTrainable(ckpt, this, dir);
    return ckpt.manifest.meta;
  }

  /** Build a model from a checkpoint written by {@link save} (architecture from its config). */
  static async load(dir: string): Promise<MimModel> {
    const ckpt = loadCheckpoint(dir);
    const cfg = ckpt.manifest.config as MimCheckpointConfig | null;
    if (!cfg || cfg.kind !== 'mim' || !cfg.model || !cfg.optim)
      throw new CheckpointError(`checkpoint ${dir}: not a MIM model checkpoint (config.kind is not 'mim')`);
    const m = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0), { totalSteps: cfg.totalSteps });
    try {
      await m.load(dir);
    } catch (e) {
      m.dispose();
      throw e;
    }
    return m;
  }

  dispose(): void {
    this.encoder.dispose();
    this.decNeighbors?.dispose();
    if (this.config.posEmbed === 'sincos') this.decPos.dispose();
    this.optimizer.dispose();
    this.params.dispose();
  }
}

/** Wrap named tensors as an in-memory checkpoint (for assignVariables). */
export function namedToCheckpoint(named: NamedTensor[]): Checkpoint {
  return inMemoryCheckpoint(new Map(toCheckpointTensors(named).map((t) => [t.name, t])));
}

/** Size checks with errors naming the field (configs built by hand skip resolveConfig's checks). */
export function checkModelConfig(c: ModelConfig): void {
  const problem = modelSizeProblem(c);
  if (problem) throw new InputError(problem);
}

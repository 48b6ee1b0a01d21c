import * as tf from '@tensorflow/tfjs';
import { CheckpointError, ConfigError } from '../core/errors.js';
import type { Param } from './params.js';
import type { LrSchedule } from './schedule.js';
import type { NamedTensor } from './types.js';

/*
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, global gradient-norm clipping and parameter
 * groups with their own learning-rate scale. The moments are explicit tf.Variables so they can be
 * checkpointed (`optim/m/<param>`, `optim/v/<param>`) and restored exactly. Weight decay applies only to
 * parameters flagged `decay` (weight matrices), never to norms, biases, tokens or position embeddings.
 */

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  /** Decoupled weight decay (multiplied by the group's learning rate). */
  weightDecay: number;
  /** Global gradient-norm clip; 0 = off. */
  clipNorm: number;
  /** Denominator epsilon. */
  eps?: number;
}

/** A set of parameters trained with `lrScale` times the scheduled learning rate. */
export interface ParamGroup {
  name: string;
  params: Param[];
  lrScale: number;
}

interface Slot {
  param: Param;
  lrScale: number;
  m: tf.Variable;
  v: tf.Variable;
}

/** What one update did. */
export interface AdamWStepInfo {
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export class AdamW {
  private readonly slots: Slot[] = [];
  /** Updates done so far. */
  step = 0;

  constructor(
    groups: ParamGroup[],
    private readonly opts: AdamWOptions,
    private readonly schedule: LrSchedule,
  ) {
    const seen = new Set<string>();
    for (const g of groups) {
      for (const p of g.params) {
        if (seen.has(p.name)) throw new ConfigError(`AdamW: parameter '${p.name}' is in two groups`);
        seen.add(p.name);
        this.slots.push({
          param: p,
          lrScale: g.lrScale,
          m: tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)),
          v: tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false)),
        });
      }
    }
  }

  /** The trained variables (pass to tf.variableGrads). */
  variables(): tf.Variable[] {
    return this.slots.map((s) => s.param.variable);
  }

  /**
   * Apply one update from gradients keyed by tf variable name (as tf.variableGrads returns them).
   * Missing gradients count as zero. The caller disposes `grads`.
   */
  apply(grads: Record<string, tf.Tensor>): AdamWStepInfo {
    const lr = this.schedule(this.step);
    const t = this.step + 1;
    const { beta1: b1, beta2: b2, weightDecay, clipNorm } = this.opts;
    const eps = this.opts.eps ?? 1e-8;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2 = 1 - Math.pow(b2, t);
    const gradNorm = tf.tidy(() => {
      const sq = this.slots
        .map((s) => grads[s.param.variable.name])
        .filter((g): g is tf.Tensor => g !== undefined)
        .map((g) => tf.sum(tf.square(g)));
      return sq.length ? tf.sqrt(tf.addN(sq)) : tf.scalar(0);
    });
    const norm = gradNorm.dataSync()[0]!;
    gradNorm.dispose();
    const clip = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1;
    tf.tidy(() => {
      for (const s of this.slots) {
        const g0 = grads[s.param.variable.name];
        if (!g0) continue;
        const g = clip === 1 ? g0 : tf.mul(g0, clip);
        const m = tf.add(tf.mul(s.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2));
        s.m.assign(m);
        s.v.assign(v);
        const stepLr = lr * s.lrScale;
        // p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)
        let upd = tf.div(tf.mul(m, stepLr / bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        if (s.param.decay && weightDecay > 0)
          upd = tf.add(upd, tf.mul(s.param.variable, stepLr * weightDecay));
        s.param.variable.assign(tf.sub(s.param.variable, upd));
      }
    });
    this.step++;
    return { lr, gradNorm: norm };
  }

  /** Moments by name for checkpoints (the variables themselves). */
  stateTensors(): NamedTensor[] {
    return this.slots.flatMap((s) => [
      { name: `optim/m/${s.param.name}`, tensor: s.m },
      { name: `optim/v/${s.param.name}`, tensor: s.v },
    ]);
  }

  /** Restore moments from checkpoint tensors (by name; all must be present with the right shapes). */
  loadState(
    get: (name: string) => { shape: number[]; data: Float32Array | Int32Array } | undefined,
    step: number,
    where = '',
  ): void {
    const problems: string[] = [];
    for (const { name, tensor } of this.stateTensors()) {
      const t = get(name);
      if (!t) problems.push(`missing tensor '${name}'`);
      else if (t.shape.join(',') !== tensor.shape.join(','))
        problems.push(`tensor '${name}' has shape [${t.shape}], expected [${tensor.shape}]`);
    }
    if (problems.length) throw new CheckpointError(`checkpoint ${where}: ${problems.join('; ')}`);
    for (const { name, tensor } of this.stateTensors()) {
      const t = get(name)!;
      tf.tidy(() => (tensor as tf.Variable).assign(tf.tensor(t.data, t.shape, 'float32')));
    }
    this.step = step;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.length = 0;
  }
}

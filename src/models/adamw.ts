import * as tf from '@tensorflow/tfjs';
import { CheckpointError, ConfigError } from '../core/errors.js';
import { fusedAdamW, hasFusedAdamW, sumOfSquares, type AdamWKernelAttrs } from './adamw-kernel.js';
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
    /** Use the fused update kernel where the backend has it (false: the op-by-op path, for tests). */
    private readonly fused = true,
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
    const present = this.slots.filter((s) => grads[s.param.variable.name] !== undefined);
    const fused = this.fused && hasFusedAdamW();
    const norm = Math.sqrt(
      fused
        ? sumOfSquares(present.map((s) => grads[s.param.variable.name]!))
        : this.sumOfSquaresOps(present.map((s) => grads[s.param.variable.name]!)),
    );
    const clip = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1;
    for (const s of present) {
      const g = grads[s.param.variable.name]!;
      const stepLr = lr * s.lrScale;
      const attrs: AdamWKernelAttrs = {
        clip,
        beta1: b1,
        beta2: b2,
        stepSize: stepLr / bc1,
        bc2,
        eps,
        decayStep: s.param.decay && weightDecay > 0 ? stepLr * weightDecay : 0,
      };
      const [p, m, v] = fused
        ? fusedAdamW(s.param.variable, g, s.m, s.v, attrs)
        : this.updateOps(s, g, attrs);
      s.m.assign(m);
      s.v.assign(v);
      s.param.variable.assign(p);
      tf.dispose([p, m, v]);
    }
    this.step++;
    return { lr, gradNorm: norm };
  }

  /** The op-by-op sum of squares (backends without the fused kernel). */
  private sumOfSquaresOps(gs: tf.Tensor[]): number {
    if (!gs.length) return 0;
    const t = tf.tidy(() => tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
    const r = t.dataSync()[0]!;
    t.dispose();
    return r;
  }

  /** The op-by-op update of one parameter, the reference of the fused kernel: new `[p, m, v]`. */
  private updateOps(s: Slot, g0: tf.Tensor, a: AdamWKernelAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
    return tf.tidy(() => {
      const g = a.clip === 1 ? g0 : tf.mul(g0, a.clip);
      const m = tf.add(tf.mul(s.m, a.beta1), tf.mul(g, 1 - a.beta1));
      const v = tf.add(tf.mul(s.v, a.beta2), tf.mul(tf.square(g), 1 - a.beta2));
      // p <- p - (lr / bc1 * m / (sqrt(v / bc2) + eps) + lr * wd * p)
      let upd = tf.div(tf.mul(m, a.stepSize), tf.add(tf.sqrt(tf.div(v, a.bc2)), a.eps));
      if (a.decayStep > 0) upd = tf.add(upd, tf.mul(s.param.variable, a.decayStep));
      return [tf.sub(s.param.variable, upd), m, v];
    });
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

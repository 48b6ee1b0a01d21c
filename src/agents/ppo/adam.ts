import * as tf from '@tensorflow/tfjs';
import type { CheckpointTensor } from '../../models/checkpoint.js';

/*
 * Adam (Kingma & Ba 2015) over a fixed list of named variables, written out so that the learning rate
 * is a plain field (linear annealing sets it before each update) and the moments are checkpointed by name:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 */
export class Adam {
  /** Current learning rate (set by the caller for annealing). */
  lr: number;
  /** Updates applied so far. */
  t = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly params: { name: string; variable: tf.Variable }[],
    lr: number,
    /** First-moment decay. */
    readonly beta1 = 0.9,
    /** Second-moment decay. */
    readonly beta2 = 0.999,
    /** Denominator epsilon (CleanRL uses 1e-5 for PPO, not torch's 1e-8). */
    readonly eps = 1e-5,
  ) {
    this.lr = lr;
    const zeros = (p: tf.Variable): tf.Variable => {
      const z = tf.zerosLike(p);
      const v = tf.variable(z, false);
      z.dispose();
      return v;
    };
    this.m = params.map((p) => zeros(p.variable));
    this.v = params.map((p) => zeros(p.variable));
  }

  /** One step with gradients in the order of `params`. */
  apply(grads: tf.Tensor[]): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps, lr } = this;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    tf.tidy(() => {
      grads.forEach((g, i) => {
        const m = this.m[i]!;
        const v = this.v[i]!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const step = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        const p = this.params[i]!.variable;
        p.assign(tf.sub(p, tf.mul(step, lr)));
      });
    });
  }

  /** Moments as checkpoint tensors `optim/m/<name>`, `optim/v/<name>`. */
  checkpointTensors(): CheckpointTensor[] {
    const out: CheckpointTensor[] = [];
    this.params.forEach((p, i) => {
      out.push({
        name: `optim/m/${p.name}`,
        shape: [...p.variable.shape],
        dtype: 'float32',
        data: this.m[i]!.dataSync() as Float32Array,
      });
      out.push({
        name: `optim/v/${p.name}`,
        shape: [...p.variable.shape],
        dtype: 'float32',
        data: this.v[i]!.dataSync() as Float32Array,
      });
    });
    return out;
  }

  /** The moment variables with their checkpoint names (for assignVariables). */
  namedMoments(): { name: string; variable: tf.Variable }[] {
    return this.params.flatMap((p, i) => [
      { name: `optim/m/${p.name}`, variable: this.m[i]! },
      { name: `optim/v/${p.name}`, variable: this.v[i]! },
    ]);
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

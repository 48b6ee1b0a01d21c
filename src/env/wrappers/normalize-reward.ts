import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from '../parallel-env.js';
import { ParallelEnvWrapper } from './wrapper.js';

/**
 * Running mean and variance of a stream of values, updated in batches (Chan et al. parallel update, as
 * CleanRL / Gym's RunningMeanStd; the initial count `epsilon` avoids a division by zero).
 */
export class RunningMeanStd {
  mean = 0;
  var = 1;
  count: number;
  constructor(epsilon = 1e-4) {
    this.count = epsilon;
  }
  update(xs: ArrayLike<number>): void {
    const n = xs.length;
    if (!n) return;
    let m = 0;
    for (let i = 0; i < n; i++) m += xs[i]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (xs[i]! - m) ** 2;
    v /= n;
    const delta = m - this.mean;
    const tot = this.count + n;
    this.mean += (delta * n) / tot;
    this.var = (this.var * this.count + v * n + (delta * delta * this.count * n) / tot) / tot;
    this.count = tot;
  }
}

export interface NormalizeRewardOptions {
  /** Discount of the return whose running std scales the rewards (default 0.99). */
  gamma?: number;
  /** Added to the variance before the square root (default 1e-8). */
  epsilon?: number;
}

/**
 * Reward normalization (Gym NormalizeReward, as in CleanRL): every row keeps a discounted return
 * G = gamma * G + r (reset to 0 when the row's episode ends: terminated or truncated, since the caller
 * resets the env then), the running variance of G over all rows is tracked, and rewards are divided by
 * sqrt(var + epsilon) (not centred). The raw rewards stay in `info.rawRewards`.
 */
export class NormalizeReward<I extends StepInfo = StepInfo> extends ParallelEnvWrapper<I> {
  readonly rms = new RunningMeanStd();
  readonly gamma: number;
  readonly epsilon: number;
  private returns: Float64Array;

  constructor(env: ParallelEnv<I>, opts: NormalizeRewardOptions = {}) {
    super(env);
    this.gamma = opts.gamma ?? 0.99;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.returns = new Float64Array(env.numEnvs * env.numAgents);
  }

  override reset(opts?: ResetOptions): ResetResult {
    this.returns.fill(0);
    return this.env.reset(opts);
  }

  override step(actions: Int32Array, preferences?: Float32Array): StepResult<I> {
    const r = this.env.step(actions, preferences);
    const n = r.rewards.length;
    for (let i = 0; i < n; i++) this.returns[i] = this.returns[i]! * this.gamma + r.rewards[i]!;
    this.rms.update(this.returns);
    const scale = 1 / Math.sqrt(this.rms.var + this.epsilon);
    const rewards = Float32Array.from(r.rewards, (v) => v * scale);
    for (let i = 0; i < n; i++) if (r.terminations[i] || r.truncations[i]) this.returns[i] = 0;
    return { ...r, rewards, infos: { ...r.infos, rawRewards: r.rewards } };
  }
}

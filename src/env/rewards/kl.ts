import type { RewardFactory } from './types.js';

/** Probabilities are clipped to [EPS, 1 - EPS] so a saturated policy gives a large but finite value. */
const EPS = 1e-6;

const clip = (p: number): number => Math.min(1 - EPS, Math.max(EPS, p));

/** KL(Bernoulli(p) || Bernoulli(q)) in nats. */
export function bernoulliKl(p: number, q: number): number {
  const pc = clip(p);
  const qc = clip(q);
  return pc * Math.log(pc / qc) + (1 - pc) * Math.log((1 - pc) / (1 - qc));
}

/**
 * log pi(a) - log prior(a) of the realized action `a` (1 = mask) under Bernoulli(p) and the prior
 * Bernoulli(q). Its mean over a ~ Bernoulli(p) is KL(Bernoulli(p) || Bernoulli(q)).
 */
export function bernoulliLogRatio(action: number, p: number, q: number): number {
  const pc = clip(p);
  const qc = clip(q);
  return action === 1 ? Math.log(pc / qc) : Math.log((1 - pc) / (1 - qc));
}

/**
 * `kl`: a pull toward the prior policy Bernoulli(targetRatio), paid per agent as minus the log-ratio of
 * its REALIZED action, -(log p_i(a_i) - log q(a_i)), p_i = the agent's mask preference given to `step`
 * (the per-sample KL penalty of RLHF). Its expectation is -KL(p_i || q), and unlike paying -KL(p_i || q)
 * itself (the same for either action, so its policy gradient is zero in expectation) it depends on the
 * action: the score-function gradient of this reward is exactly -grad KL. 0 for every agent when no
 * preferences were given.
 */
export const klReward: RewardFactory = () => ({
  compute(ctx) {
    const out = new Float32Array(ctx.realized.length);
    const p = ctx.preferences;
    if (!p) return out;
    for (let i = 0; i < out.length; i++)
      out[i] = -bernoulliLogRatio(ctx.realized[i]!, p[i]!, ctx.targetRatio);
    return out;
  },
});

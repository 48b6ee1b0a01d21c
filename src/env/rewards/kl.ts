import type { RewardFactory } from './types.js';

/** Probabilities are clipped to [EPS, 1 - EPS] so a saturated policy gives a large but finite penalty. */
const EPS = 1e-6;

/** KL(Bernoulli(p) || Bernoulli(q)) in nats. */
export function bernoulliKl(p: number, q: number): number {
  const pc = Math.min(1 - EPS, Math.max(EPS, p));
  const qc = Math.min(1 - EPS, Math.max(EPS, q));
  return pc * Math.log(pc / qc) + (1 - pc) * Math.log((1 - pc) / (1 - qc));
}

/**
 * `kl`: the penalty -KL(Bernoulli(p_i) || Bernoulli(targetRatio)) per agent, p_i = the agent's mask
 * preference (probability) given to `step`. 0 for every agent when no preferences were given.
 */
export const klReward: RewardFactory = () => ({
  compute(ctx) {
    const out = new Float32Array(ctx.realized.length);
    const p = ctx.preferences;
    if (!p) return out;
    for (let i = 0; i < out.length; i++) out[i] = -bernoulliKl(p[i]!, ctx.targetRatio);
    return out;
  },
});

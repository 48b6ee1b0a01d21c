import type { RewardFactory } from './types.js';

/**
 * `reconstruction`: per agent, the MIM loss of its own patch when it was masked (masking what is hard
 * pays), 0 when it stayed visible (a visible patch has no reconstruction loss; the budget term and the
 * other agents' masks decide whether keeping pays).
 */
export const reconstructionReward: RewardFactory = () => ({
  compute(ctx) {
    const out = new Float32Array(ctx.realized.length);
    const per = ctx.mim.perPatchLoss;
    for (let i = 0; i < out.length; i++) out[i] = ctx.realized[i] === 1 ? per[i]! : 0;
    return out;
  },
});

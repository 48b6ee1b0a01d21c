import { perEnv, type RewardFactory } from './types.js';

/**
 * `budget`: the penalty -|realized ratio - targetRatio| of each env, shared by the agents of that env
 * (the reference's ratio penalty).
 */
export const budgetReward: RewardFactory = () => ({
  compute(ctx) {
    const pen = Array.from(ctx.maskRatio, (r) => -Math.abs(r - ctx.targetRatio));
    return perEnv(pen, ctx.numAgents);
  },
});

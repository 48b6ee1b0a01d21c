import { shared, type RewardFactory } from './types.js';

/**
 * `learning-progress`: the drop of the MIM loss on the fixed held-out batch (fixed crops, fixed mask)
 * caused by this step's update, loss_before - loss_after, shared by every agent of every env (the
 * update is one step on all envs' crops together). The held-out loss after an update is cached by the
 * model's global step, so each step costs one held-out evaluation, not two, unless something else
 * trained the model in between. 0 when there are no held-out crops.
 */
export const learningProgressReward: RewardFactory = (setup) => {
  let cachedStep = -1;
  let cachedLoss = 0;
  let before = 0;
  const heldOutLoss = (): number => {
    const m = setup.model;
    if (cachedStep !== m.step) {
      cachedLoss = m.evaluate(setup.heldOut.raw, setup.heldOut.n, setup.heldOutMask).loss;
      cachedStep = m.step;
    }
    return cachedLoss;
  };
  return {
    costly: true,
    beforeUpdate() {
      if (setup.heldOut.n > 0) before = heldOutLoss();
    },
    compute(ctx) {
      if (setup.heldOut.n === 0) return shared(0, ctx.numEnvs, ctx.numAgents);
      return shared(before - heldOutLoss(), ctx.numEnvs, ctx.numAgents);
    },
  };
};

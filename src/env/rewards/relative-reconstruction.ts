import type { RewardFactory } from './types.js';

/**
 * `relative-reconstruction`: per agent, its patch's MIM loss minus the mean loss of the masked patches
 * of its own crop when it was masked, 0 when it stayed visible. It pays for masking patches that are
 * harder than the others the crop masked, and is zero-mean over a crop's masked patches, so it does not
 * pay for masking more: the plain `reconstruction` term (the reference's) pays every masked agent a
 * positive loss, which drives learned policies to mask as much as the budget allows.
 */
export const relativeReconstructionReward: RewardFactory = () => ({
  compute(ctx) {
    const { numEnvs, numAgents, realized } = ctx;
    const per = ctx.mim.perPatchLoss;
    const out = new Float32Array(realized.length);
    for (let e = 0; e < numEnvs; e++) {
      let sum = 0;
      let n = 0;
      for (let a = 0; a < numAgents; a++) {
        const i = e * numAgents + a;
        if (realized[i] === 1) {
          sum += per[i]!;
          n++;
        }
      }
      const mean = n ? sum / n : 0;
      for (let a = 0; a < numAgents; a++) {
        const i = e * numAgents + a;
        out[i] = realized[i] === 1 ? per[i]! - mean : 0;
      }
    }
    return out;
  },
});

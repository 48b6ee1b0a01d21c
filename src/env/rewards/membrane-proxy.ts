import { batchBoundary } from '../../data/affinities.js';
import { patchMembraneProxy } from '../../data/membrane.js';
import { crossFittedProbeMse } from '../membrane-probe.js';
import { shared, type RewardFactory } from './types.js';

/** Ridge strength of the probe relative to the token variance (small: the probe should fit). */
export const PROBE_REL_LAMBDA = 1e-2;

/**
 * Per-patch probe targets of a batch `[n * numPatches]`: the fraction of boundary voxels in the patch
 * when the crops have labels, else the unsupervised membrane proxy (data/membrane.ts).
 */
export function probeTargets(
  crops: { n: number; shape: [number, number, number]; raw: Float32Array; labels?: Uint32Array },
  patch: [number, number, number],
  grid: [number, number, number],
): Float32Array {
  if (!crops.labels) return patchMembraneProxy(crops.raw, crops.n, crops.shape, patch);
  const b = batchBoundary(crops);
  const [d, h, w] = crops.shape;
  const np = grid[0] * grid[1] * grid[2];
  const out = new Float32Array(crops.n * np);
  const pv = patch[0] * patch[1] * patch[2];
  for (let c = 0; c < crops.n; c++) {
    const off = c * d * h * w;
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const p =
            (Math.floor(z / patch[0]) * grid[1] + Math.floor(y / patch[1])) * grid[2] +
            Math.floor(x / patch[2]);
          out[c * np + p]! += b[off + (z * h + y) * w + x]!;
        }
  }
  for (let i = 0; i < out.length; i++) out[i]! /= pv;
  return out;
}

/**
 * `membrane-proxy`: minus the cross-fitted error of a linear probe (membrane-probe.ts) that predicts each
 * held-out patch's boundary fraction from the encoder tokens after this step's update, shared by every
 * agent (the downstream proxy: how decodable membranes are from the encoder). 0 without held-out crops.
 */
export const membraneProxyReward: RewardFactory = (setup) => {
  const { heldOut, model } = setup;
  const targets = heldOut.n > 0 ? probeTargets(heldOut, model.patch, model.grid) : new Float32Array(0);
  return {
    costly: true,
    compute(ctx) {
      if (heldOut.n === 0) return shared(0, ctx.numEnvs, ctx.numAgents);
      const tokens = model.encode(heldOut.raw, heldOut.n); // [n, numPatches, embedDim]
      let x: Float32Array;
      try {
        x = tokens.dataSync() as Float32Array;
      } finally {
        tokens.dispose();
      }
      const mse = crossFittedProbeMse(
        x,
        targets,
        heldOut.n,
        model.numPatches,
        model.embedDim,
        PROBE_REL_LAMBDA,
      );
      return shared(-mse, ctx.numEnvs, ctx.numAgents);
    },
  };
};

/*
 * A planted reward on MaskingEnv itself: do IPPO and MAPPO learn what the reward asks?
 *
 * The reward term 'planted-membrane' (registered from outside, like any user term) pays +1 to an agent
 * that masks a patch whose membrane fraction (share of boundary voxels, from the synthetic labels) is in
 * the top quartile of its crop, -1 for masking any other patch, and 0 for keeping. Every other term is
 * off, so the optimum is known: mask exactly the top quartile. The budget allows ratios down to 0.25, so
 * that optimum is reachable. The score is the share of realized masks that fall on top-quartile patches:
 * about 0.25 for a random policy, 1 for the optimum. The env is the real one (MIM model trained by every
 * step, new crops every step) at a tiny size so the whole script runs in well under a minute.
 *
 * Run: node --import tsx examples/planted-reward.ts [updates] [seed] [gamma]
 * Prints one JSON line: {"random": share, "ippo": share, "mappo": share, ...}.
 * Written against the public API only ('../src/index.js'; from an installed package: 'dbmim').
 */
import {
  actInputOf,
  createAgent,
  createMaskingEnv,
  probeTargets,
  registerReward,
  resolveConfig,
  Rng,
  selectBackend,
  trainOnEnv,
  type Agent,
  type CropBatch,
  type MaskingEnv,
  type RewardContext,
} from '../src/index.js';

/** Name of the planted term. */
export const PLANTED_TERM = 'planted-membrane';

/** 1 where a patch's membrane fraction is in the top quartile of its crop `[n * numPatches]`. */
export function topQuartile(
  crops: CropBatch,
  patch: [number, number, number],
  grid: [number, number, number],
): Uint8Array {
  const frac = probeTargets(crops, patch, grid); // boundary fraction per patch (labels), else the proxy
  const np = grid[0] * grid[1] * grid[2];
  const k = Math.round(np / 4);
  const top = new Uint8Array(crops.n * np);
  for (let c = 0; c < crops.n; c++) {
    const order = Array.from({ length: np }, (_, i) => i);
    order.sort((a, b) => frac[c * np + b]! - frac[c * np + a]! || a - b);
    for (const i of order.slice(0, k)) top[c * np + i] = 1;
  }
  return top;
}

/** The planted term: +1 for masking a top-quartile patch, -1 for masking another, 0 for keeping. */
export function plantedReward(ctx: RewardContext): Float32Array {
  const top = topQuartile(ctx.crops, ctx.model.patch, ctx.model.grid);
  return Float32Array.from(ctx.realized, (a, i) => (a === 1 ? (top[i] ? 1 : -1) : 0));
}

/** Options of {@link main}. */
export interface PlantedOptions {
  /** PPO updates per learner (8 env steps each; default 10). */
  updates?: number;
  /** Run seed (default 1). */
  seed?: number;
  /** Discount of the learners (default: the config's, ppo.gamma). */
  gamma?: number;
  /** Env steps of the evaluation after training (default 16, two episodes). */
  evalSteps?: number;
  /** Agents to run (default random, ippo, mappo). */
  agents?: string[];
}

/** The tiny run configuration (synthetic volume, 16 patches per crop, 8 crops per step). */
export function plantedConfig(seed: number, gamma?: number) {
  return resolveConfig({
    seed,
    data: { syntheticShape: [4, 48, 48], augment: false },
    model: {
      crop: [2, 16, 16],
      patch: [2, 4, 4],
      embedDim: 8,
      depth: 1,
      heads: 1,
      mlpRatio: 1,
      decoderDim: 8,
      decoderHeads: 1,
    },
    env: { numEnvs: 8, horizon: 8, minRatio: 0.25, maxRatio: 0.9, targetRatio: 0.5, heldOutCrops: 0 },
    reward: { reconstruction: 0, relativeReconstruction: 0, budget: 0, kl: 0 },
    agent: { ratio: 0.5 },
    ppo: {
      lr: 6e-3, // a short run: a larger step than the default 3e-4, held constant (no annealing)
      annealLr: false,
      hidden: 32,
      rolloutSteps: 8,
      minibatches: 2,
      ...(gamma === undefined ? {} : { gamma }),
    },
  });
}

/** Share of realized masks on top-quartile patches over `steps` env steps (sampled actions, no learning). */
function evaluateShare(env: MaskingEnv, agent: Agent, steps: number, seed: number): number {
  let obs = env.reset({ seed }).observations;
  let onTop = 0;
  let masks = 0;
  for (let s = 0; s < steps; s++) {
    const top = topQuartile(env.currentCrops!, env.model.patch, env.model.grid);
    const out = agent.act(actInputOf(env, obs));
    const res = env.step(out.actions, out.probs);
    res.infos.realizedActions.forEach((a, i) => {
      masks += a;
      onTop += a & top[i]!;
    });
    obs = res.truncations[0] ? env.reset().observations : res.observations;
  }
  return masks ? onTop / masks : 0;
}

/** Train each agent on the planted reward, then measure its share. */
export async function main(opts: PlantedOptions = {}): Promise<Record<string, number>> {
  await selectBackend();
  const seed = opts.seed ?? 1;
  const updates = opts.updates ?? 10;
  const config = plantedConfig(seed, opts.gamma);
  registerReward(PLANTED_TERM, plantedReward);
  const out: Record<string, number> = {};
  for (const name of opts.agents ?? ['random', 'ippo', 'mappo']) {
    const env = await createMaskingEnv(config, { rewardTerms: { [PLANTED_TERM]: 1 } });
    const agent = createAgent(name, {
      obsDim: env.obsDim,
      stateDim: env.stateDim,
      numAgents: env.numAgents,
      numEnvs: env.numEnvs,
      config,
      rng: Rng.fromSeed(seed).split(`agent/${name}`),
    });
    try {
      if (agent.learns) trainOnEnv(env, agent, { updates, rolloutSteps: config.ppo.rolloutSteps, seed });
      out[name] = evaluateShare(env, agent, opts.evalSteps ?? 16, seed + 1000);
    } finally {
      agent.dispose();
      env.close();
    }
  }
  return { ...out, updates, seed, gamma: config.ppo.gamma };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const [updates, seed, gamma] = process.argv.slice(2).map(Number);
  const r = await main({
    ...(updates ? { updates } : {}),
    ...(seed ? { seed } : {}),
    ...(gamma === undefined || Number.isNaN(gamma) ? {} : { gamma }),
  });
  console.log(JSON.stringify(r));
}

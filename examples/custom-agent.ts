/*
 * A custom agent plugged in from outside the library: the REINFORCE plug-in shipped in
 * examples/plugins/reinforce.mjs (a linear-logistic policy in plain JavaScript, no tfjs), loaded the way
 * `--plugin` loads it, selected by name through the registry exactly as `--agent reinforce` would, and
 * trained on the toy ScoreMaskEnv. The toy's features are small, so the example re-registers the plug-in's
 * class with a larger step and no clipping (the plug-in's defaults suit MaskingEnv's embeddings).
 *
 * Run: node --import tsx examples/custom-agent.ts [updates]
 * Written against the public API only ('../src/index.js'; from an installed package: 'dbmim').
 */
import {
  createAgent,
  loadPlugins,
  registerAgent,
  resolveConfig,
  Rng,
  ScoreMaskEnv,
  trainOnEnv,
  type Agent,
} from '../src/index.js';
import { fileURLToPath } from 'node:url';

/** The plug-in file (plain JavaScript; it registers 'reinforce' when loaded). */
const PLUGIN = new URL('./plugins/reinforce.mjs', import.meta.url);

/** What the plug-in module exports (typed here: it is JavaScript). */
interface ReinforceModule {
  ReinforceAgent: new (obsDim: number, rng: Rng, options?: { lr?: number; maxGradNorm?: number }) => Agent;
}

/** Step size on the toy env (its features are O(1) and its gradients small: no clipping needed). */
const TOY_LR = 4;

/** Register 'reinforce', build it by name from the config and train it for `updates` rollouts. */
export async function main(updates = 20): Promise<{ agent: string; correct: number[]; learns: boolean }> {
  await loadPlugins([fileURLToPath(PLUGIN)]); // as `--plugin examples/plugins/reinforce.mjs`
  // The loaded module (cached by the import above), to build its class with the toy's step size.
  const { ReinforceAgent } = (await import(PLUGIN.href)) as ReinforceModule;
  registerAgent(
    'reinforce',
    (ctx) =>
      new ReinforceAgent(ctx.obsDim, ctx.rng.split('reinforce'), { lr: TOY_LR, maxGradNorm: Infinity }),
  );
  const config = resolveConfig({ agent: { name: 'reinforce' } });
  const env = new ScoreMaskEnv({ numEnvs: 4, numAgents: 16 });
  const agent = createAgent(config.agent.name, {
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    numAgents: env.numAgents,
    numEnvs: env.numEnvs,
    config,
    rng: Rng.fromSeed(config.seed),
  });
  const { history } = trainOnEnv(env, agent, { updates, rolloutSteps: 4, seed: 1 });
  env.close();
  agent.dispose();
  return { agent: agent.name, learns: agent.learns, correct: history.map((h) => h.correct as number) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const r = await main(Number(process.argv[2] ?? 20));
  console.log(
    `agent '${r.agent}': correct decisions per update: ${r.correct.map((c) => c.toFixed(2)).join(' ')}`,
  );
}

import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { createMaskingEnv } from '../../tasks/create-masking-env.js';
import { obsFeature } from '../../env/observation-layout.js';
import { runFixedPolicy, type PolicyFn } from '../../env/wrappers/fixed-policy.js';
import { useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';
import { runConfig, withRunConfig, type RunConfigOptions } from '../run-config.js';

interface RolloutOptions extends RunConfigOptions {
  policy: string;
  steps: string;
  plugin?: string[];
}

export const ROLLOUT_POLICIES = ['random', 'edge', 'all-keep'] as const;

/**
 * The fixed policies of `dbmim rollout`:
 * - random: every patch masked with probability targetRatio (seeded);
 * - edge: per env, the round(targetRatio * numAgents) patches with the highest membrane proxy;
 * - all-keep: nothing masked (the budget then masks the minimum, chosen by the env's seeded order).
 */
export function rolloutPolicy(name: string, targetRatio: number, rng: Rng): PolicyFn {
  switch (name) {
    case 'random':
      return ({ numEnvs, numAgents }) =>
        Int32Array.from({ length: numEnvs * numAgents }, () => (rng.bernoulli(targetRatio) ? 1 : 0));
    case 'all-keep':
      return ({ numEnvs, numAgents }) => new Int32Array(numEnvs * numAgents);
    case 'edge':
      return ({ observations, numEnvs, numAgents, obsDim }) => {
        const actions = new Int32Array(numEnvs * numAgents);
        const k = Math.round(targetRatio * numAgents);
        for (let e = 0; e < numEnvs; e++) {
          const rows = Array.from({ length: numAgents }, (_, a) => e * numAgents + a);
          const score = (r: number): number => obsFeature(observations, obsDim, r, 'membrane');
          rows.sort((a, b) => score(b) - score(a) || a - b);
          for (const r of rows.slice(0, k)) actions[r] = 1;
        }
        return actions;
      };
    default:
      throw new ConfigError(`--policy: expected one of ${ROLLOUT_POLICIES.join(', ')}, got '${name}'`);
  }
}

const round = (v: number): number => Number(v.toPrecision(7));

export function register(program: Command): void {
  withRunConfig(
    withPluginOption(
      program
        .command('rollout')
        .description(
          'step MaskingEnv (real MIM model) with a fixed masking policy and print one JSON line per step: ' +
            '{step, maskRatio, mimLoss, reward: {mean, terms}}. Same seed, same lines',
        )
        .option('--policy <name>', `masking policy: ${ROLLOUT_POLICIES.join(', ')}`, 'random')
        .option('--steps <n>', 'env steps (= MIM updates)', '8'),
    ),
  ).action(async (opts: RolloutOptions, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const steps = Number(opts.steps);
    if (!Number.isInteger(steps) || steps < 1)
      throw new ConfigError(`--steps: expected a positive integer, got '${opts.steps}'`);
    const config = runConfig(opts);
    const policy = rolloutPolicy(
      opts.policy,
      config.env.targetRatio,
      Rng.fromSeed(config.seed).split('rollout-policy'),
    );
    await useBackend(g);
    await usePlugins(opts.plugin, g.quiet);
    const env = await createMaskingEnv(config);
    try {
      runFixedPolicy(env, policy, steps, {
        seed: config.seed,
        onStep: (r) => {
          const terms: Record<string, number> = {};
          for (const [k, v] of Object.entries(r.rewardTerms)) terms[k] = round(v);
          console.log(
            JSON.stringify({
              step: r.step,
              maskRatio: round(r.maskRatio),
              mimLoss: r.mimLoss === null ? null : round(r.mimLoss),
              reward: { mean: round(r.rewardMean), terms },
            }),
          );
        },
      });
    } finally {
      env.close();
    }
  });
}

import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { createMaskingEnv } from '../../tasks/create-masking-env.js';
import type { ParallelEnv } from '../../env/parallel-env.js';
import { createAgent, RandomMaskAgent, registeredAgents, runPolicy, type Agent } from '../../agents/index.js';
import type { Config } from '../../core/config.js';
import { useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';
import { runConfig, withRunConfig, type RunConfigOptions } from '../run-config.js';

interface RolloutOptions extends RunConfigOptions {
  policy: string;
  steps: string;
  plugin?: string[];
}

/** The one policy of `dbmim rollout` that is not a registered agent. */
const ALL_KEEP = 'all-keep';

/**
 * The policy of `dbmim rollout --policy <name>`: any registered agent (random, edge, mixed, block, ippo,
 * mappo, plug-ins; heuristics mask `agent.ratio`), run without learning, or 'all-keep' (nothing masked:
 * the random agent at ratio 0, so the budget masks the minimum, its weakest preferences first).
 */
export function rolloutPolicy(name: string, config: Config, env: ParallelEnv, rng: Rng): Agent {
  if (name === ALL_KEEP) return new RandomMaskAgent(rng, 0);
  if (!registeredAgents().includes(name))
    throw new ConfigError(
      `--policy: expected ${ALL_KEEP} or a registered agent (${registeredAgents().join(', ')}), got '${name}'`,
    );
  const { numEnvs, numAgents, obsDim, stateDim } = env;
  return createAgent(name, { numEnvs, numAgents, obsDim, stateDim, config, rng });
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
        .option('--policy <name>', `masking policy: ${ALL_KEEP} or a registered agent`, 'random')
        .option('--steps <n>', 'env steps (= MIM updates)', '8'),
    ),
  ).action(async (opts: RolloutOptions, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const steps = Number(opts.steps);
    if (!Number.isInteger(steps) || steps < 1)
      throw new ConfigError(`--steps: expected a positive integer, got '${opts.steps}'`);
    const config = runConfig(opts);
    await useBackend(g);
    await usePlugins(opts.plugin, g.quiet);
    const env = await createMaskingEnv(config);
    let policy: Agent | null = null;
    try {
      policy = rolloutPolicy(opts.policy, config, env, Rng.fromSeed(config.seed).split('rollout-policy'));
      runPolicy(env, policy, steps, {
        seed: config.seed,
        onStep: (r) => {
          const terms: Record<string, number> = {};
          for (const [k, v] of Object.entries(r.rewardTerms)) terms[k] = round(v);
          console.log(
            JSON.stringify({
              step: r.step,
              maskRatio: round(r.maskRatio),
              mimLoss: r.mimLoss === null ? null : round(r.mimLoss),
              reward: { mean: round(r.reward), terms },
            }),
          );
        },
      });
    } finally {
      policy?.dispose();
      env.close();
    }
  });
}

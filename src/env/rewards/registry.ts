import type { DependencyContainer } from 'tsyringe';
import type { RewardConfig } from '../../core/config.js';
import { rootDi } from '../../core/container.js';
import { ConfigError } from '../../core/errors.js';
import { NamedRegistry } from '../../core/registry.js';
import { rewardToken } from '../../core/tokens.js';
import { budgetReward } from './budget.js';
import { klReward } from './kl.js';
import { learningProgressReward } from './learning-progress.js';
import { membraneProxyReward } from './membrane-proxy.js';
import { reconstructionReward } from './reconstruction.js';
import { relativeReconstructionReward } from './relative-reconstruction.js';
import type { RewardFactory, RewardFn } from './types.js';

/*
 * Reward terms live in the DI container under `rewardToken(name)` as factories (core/registry.ts, the
 * same style and name rule as agents). The built-in terms are registered when this module is imported;
 * `registerReward` adds (or replaces) a term from outside the library, and a non-zero weight under its
 * name (config `reward.extra`, MaskingEnv's `rewardTerms` option) turns it on.
 */

/** Config field of each built-in term's weight -> the term's registered name. */
export const REWARD_CONFIG_NAMES: Record<Exclude<keyof RewardConfig, 'extra'>, string> = {
  reconstruction: 'reconstruction',
  relativeReconstruction: 'relative-reconstruction',
  learningProgress: 'learning-progress',
  membraneProxy: 'membrane-proxy',
  budget: 'budget',
  kl: 'kl',
};

const BUILTINS: Record<string, RewardFactory> = {
  reconstruction: reconstructionReward,
  'relative-reconstruction': relativeReconstructionReward,
  'learning-progress': learningProgressReward,
  'membrane-proxy': membraneProxyReward,
  budget: budgetReward,
  kl: klReward,
};

/** Reward factories by name (the registry style every named extension uses). */
const REWARDS = new NamedRegistry<RewardFactory>(
  'reward term',
  rewardToken,
  'reward.extra / --set reward.extra.NAME',
);

/** Register a stateful term: `factory` builds one term per env. Replaces an earlier registration. */
export function registerRewardFactory(
  name: string,
  factory: RewardFactory,
  container: DependencyContainer = rootDi,
): void {
  REWARDS.register(name, factory, container);
}

/** Register a stateless term computing `[numEnvs * numAgents]` values from a step's context. */
export function registerReward(name: string, fn: RewardFn, container: DependencyContainer = rootDi): void {
  if (typeof fn !== 'function')
    throw new ConfigError(`reward term '${name}': registerReward needs a function, got ${typeof fn}`);
  registerRewardFactory(name, () => ({ compute: fn }), container);
}

/** Names of the registered reward terms visible from `container`, built-in and user-registered (sorted). */
export function registeredRewards(container: DependencyContainer = rootDi): string[] {
  return REWARDS.list(container);
}

/** The factory registered under `name`; a ConfigError naming the known terms when there is none. */
export function resolveReward(name: string, container: DependencyContainer = rootDi): RewardFactory {
  return REWARDS.resolve(name, container);
}

// The built-in terms are registered when this module is first imported (as the agents' are).
for (const [name, factory] of Object.entries(BUILTINS)) registerRewardFactory(name, factory);

/** Term name -> weight: the config's built-in weights, then `extra` (adds or overrides by name). */
export function rewardWeights(
  reward: RewardConfig,
  extra: Record<string, number> = {},
): Record<string, number> {
  const w: Record<string, number> = {};
  for (const [k, name] of Object.entries(REWARD_CONFIG_NAMES))
    w[name] = reward[k as keyof typeof REWARD_CONFIG_NAMES];
  // then terms registered by name: the config's `reward.extra`, then the caller's
  for (const [name, v] of Object.entries({ ...(reward.extra ?? {}), ...extra })) {
    if (!Number.isFinite(v))
      throw new ConfigError(`reward weight of '${name}' must be a finite number, got ${v}`);
    w[name] = v;
  }
  return w;
}

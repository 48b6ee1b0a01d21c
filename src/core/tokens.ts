import type { InjectionToken } from 'tsyringe';
import type { Config } from './config.js';
import type { Rng } from './rng.js';

/*
 * Library-wide DI tokens. Code asks the container for a token, not a class, so a user can swap a piece
 * from outside. The pieces of a pretraining run have their own tokens (tasks/pretrain/tokens.ts); agents
 * and reward terms are registered by name (`agentToken`, `rewardToken`).
 */

/** Library-wide DI tokens (see docs/architecture.md, "Dependency injection"). */
export const TOKENS = {
  /** The resolved {@link Config} of the run. */
  Config: 'dbmim:config' as InjectionToken<Config>,
  /** The root {@link Rng} of the run (every piece splits its own stream from it by purpose). */
  Rng: 'dbmim:rng' as InjectionToken<Rng>,
  /**
   * The pretrained encoder, published when a pretraining run ends (by its default encoder sink) and
   * consumed by the segmentation task (`finetune({ container })`).
   */
  PretrainedEncoder: 'dbmim:pretrained-encoder' as InjectionToken<unknown>,
} as const;

/** Token of the agent factory registered under `name` (see `registerAgent`). */
export function agentToken(name: string): string {
  return `dbmim:agent:${name}`;
}

/** Token of the reward term registered under `name`. */
export function rewardToken(name: string): string {
  return `dbmim:reward:${name}`;
}

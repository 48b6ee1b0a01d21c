import type { InjectionToken } from 'tsyringe';

/*
 * Named DI tokens. Values are registered in the container (see container.ts); code asks for a token, not
 * a class, so a user can swap any piece (an agent, a reward term, the crop source) from outside.
 */
export const TOKENS = {
  /** The resolved {@link Config} of the run. */
  Config: 'dbmim:config' as InjectionToken<unknown>,
  /** The root {@link Rng} of the run (split it per purpose). */
  Rng: 'dbmim:rng' as InjectionToken<unknown>,
  /** The active backend's {@link BackendInfo}. */
  Backend: 'dbmim:backend' as InjectionToken<unknown>,
  /** The pretrained encoder published by the pretraining trainer, consumed by segmentation. */
  PretrainedEncoder: 'dbmim:pretrained-encoder' as InjectionToken<unknown>,
  /** The crop source of the masking env. */
  CropSource: 'dbmim:crop-source' as InjectionToken<unknown>,
} as const;

/** Token of the agent factory registered under `name` (see `registerAgent`). */
export function agentToken(name: string): string {
  return `dbmim:agent:${name}`;
}

/** Token of the reward term registered under `name`. */
export function rewardToken(name: string): string {
  return `dbmim:reward:${name}`;
}

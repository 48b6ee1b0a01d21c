import type { ParallelEnv, StepInfo, StepResult } from '../env/parallel-env.js';
import type { ActInput, ActOutput, Transition } from './agent.js';

/** What an agent sees of `env` given its current observations. */
export function actInputOf(env: ParallelEnv, observations: Float32Array, deterministic?: boolean): ActInput {
  return {
    observations,
    state: env.state(),
    numEnvs: env.numEnvs,
    numAgents: env.numAgents,
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    ...(deterministic === undefined ? {} : { deterministic }),
  };
}

/** True when some row of the step terminated or was truncated (the loops then reset every env). */
export function stepEnded(res: StepResult<StepInfo>): boolean {
  return res.terminations.some((x) => x === 1) || res.truncations.some((x) => x === 1);
}

/**
 * The learner's record of one step: what was seen and chosen, what the env applied and returned.
 * `forcedReset`: the caller resets the envs after this step although some rows may still be running
 * (an env whose rows end at different times); those rows are flagged truncated, so the learner
 * bootstraps them from their next observation and GAE carries no advantage across the reset.
 */
export function transitionOf(
  input: ActInput,
  output: ActOutput,
  res: StepResult<StepInfo>,
  nextState: Float32Array,
  forcedReset = false,
): Transition {
  const truncations = forcedReset
    ? res.truncations.map((x, i) => (x === 1 || res.terminations[i] !== 1 ? 1 : 0))
    : res.truncations;
  return {
    input,
    output,
    realizedActions: res.infos.realizedActions,
    rewards: res.rewards,
    terminations: res.terminations,
    truncations,
    nextObservations: res.observations,
    nextState,
  };
}

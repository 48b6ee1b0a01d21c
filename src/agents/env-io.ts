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

/** The learner's record of one step: what was seen and chosen, what the env applied and returned. */
export function transitionOf(
  input: ActInput,
  output: ActOutput,
  res: StepResult<StepInfo>,
  nextState: Float32Array,
): Transition {
  return {
    input,
    output,
    realizedActions: res.infos.realizedActions,
    rewards: res.rewards,
    terminations: res.terminations,
    truncations: res.truncations,
    nextObservations: res.observations,
    nextState,
  };
}

import type { Box, Discrete } from './spaces.js';

/*
 * The parallel multi-agent env (PettingZoo "parallel" semantics), batched for speed. Every env of a
 * vector holds the same agents; rows are env-major: row = envIndex * numAgents + agentIndex.
 * Hot path: struct-of-arrays (one Float32Array of observations, Int32Array actions, Float32Array rewards).
 * A dict-keyed view keyed by agent id is a thin adapter (see dict-adapter.ts).
 *
 * Episodes: `step` returns the next observations. When a step truncates or terminates, those are the
 * final observations of the episode (valid for value bootstrapping) and the caller calls `reset()`
 * before stepping again.
 */

/** Info of one step; envs may add fields. */
export interface StepInfo {
  /** Actions after env-side rules (e.g. the mask budget): learners train on these. `[numEnvs * numAgents]`. */
  realizedActions: Int32Array;
  /** Per-term rewards before weighting, each `[numEnvs * numAgents]`. */
  rewardTerms: Record<string, Float32Array>;
  [key: string]: unknown;
}

/** What `reset` returns: the first observations. */
export interface ResetResult {
  observations: Float32Array;
  infos: Record<string, unknown>;
}

/** What `step` returns: next observations, rewards, episode ends and infos, per agent row. */
export interface StepResult<I extends StepInfo = StepInfo> {
  /** `[numEnvs * numAgents, obsDim]` */
  observations: Float32Array;
  /** `[numEnvs * numAgents]` */
  rewards: Float32Array;
  /** `[numEnvs * numAgents]`, 1 = the agent's episode ended (a terminal state: no bootstrapping). */
  terminations: Uint8Array;
  /** `[numEnvs * numAgents]`, 1 = the episode was cut (time limit: bootstrap from the final observation). */
  truncations: Uint8Array;
  infos: I;
}

/** Options of `reset`: a seed makes the episode a function of it. */
export interface ResetOptions {
  seed?: number;
  options?: Record<string, unknown>;
}

/**
 * A parallel multi-agent env (PettingZoo "parallel" semantics), batched: every array is struct-of-arrays
 * over `numEnvs * numAgents` agent rows, env-major.
 */
export interface ParallelEnv<I extends StepInfo = StepInfo> {
  /** All agent ids an env can hold (per env), e.g. `patch_z_y_x`. */
  readonly possibleAgents: readonly string[];
  /** Agents alive now (per env). */
  readonly agents: readonly string[];
  /** Parallel copies (a plain env has 1). */
  readonly numEnvs: number;
  readonly numAgents: number;
  readonly obsDim: number;
  readonly stateDim: number;
  observationSpace(agent: string): Box;
  actionSpace(agent: string): Discrete;
  /** The space of one env's global state `[stateDim]`. */
  stateSpace(): Box;
  reset(opts?: ResetOptions): ResetResult;
  /**
   * @param actions `[numEnvs * numAgents]`
   * @param preferences optional per-agent preference for action 1 (e.g. mask probability), used by
   *   env-side rules that must change actions (the mask budget flips the weakest preferences).
   */
  step(actions: Int32Array, preferences?: Float32Array): StepResult<I>;
  /** Global state for centralized critics: `[numEnvs, stateDim]`. */
  state(): Float32Array;
  /** Release resources; calling twice is harmless. */
  close(): void;
}

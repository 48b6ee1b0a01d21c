/*
 * The Agent interface: a policy over all patch agents of a batch of envs. Heuristic policies implement it
 * with a no-op update. A user-written agent needs only this file and src/env.
 */

/** What an agent sees when acting: env-major rows (row = env * numAgents + agent). */
export interface ActInput {
  /** `[numEnvs * numAgents, obsDim]` */
  observations: Float32Array;
  /** Global state `[numEnvs, stateDim]` (centralized critics). */
  state: Float32Array;
  numEnvs: number;
  numAgents: number;
  obsDim: number;
  stateDim: number;
  /** Greedy actions instead of sampling. */
  deterministic?: boolean;
}

/** What an agent returns for a batch of observations. */
export interface ActOutput {
  /** `[numEnvs * numAgents]` in {0, 1} (1 = mask). */
  actions: Int32Array;
  /** Probability of action 1 per agent (the env's budget rule flips the weakest preferences). */
  probs: Float32Array;
  /** Log-probability of the sampled action. */
  logProbs: Float32Array;
  /**
   * Logit of action 1 per agent, when the policy has one. PPO learners take the old log-probability of the
   * realized action from it (exact at saturation, where a float32 probability rounds to 0 or 1).
   */
  logits?: Float32Array;
  /** Value estimates `[numEnvs * numAgents]` (a centralized critic repeats its env's value per agent). */
  values: Float32Array;
}

/** One env step as the learner records it. */
export interface Transition {
  input: ActInput;
  output: ActOutput;
  /** The actions the env actually applied (after the budget rule): train on these. */
  realizedActions: Int32Array;
  rewards: Float32Array;
  terminations: Uint8Array;
  truncations: Uint8Array;
  /** Observations and state after the step (for bootstrapping at the end of a rollout or a truncation). */
  nextObservations: Float32Array;
  nextState: Float32Array;
}

/** Numbers an update reports (losses, entropy, KL, diagnostics). */
export type UpdateStats = Record<string, number | number[]>;

/**
 * A masking policy over the batched agent rows of an env. Heuristic policies are agents whose `update`
 * does nothing (`learns` false). Register one with `registerAgent`.
 */
export interface Agent {
  readonly name: string;
  /** True when `update` learns (false for heuristic policies). */
  readonly learns: boolean;
  act(input: ActInput): ActOutput;
  observe(t: Transition): void;
  /** Learn from what was observed when a rollout is complete; null when nothing was done. */
  update(progress?: number): UpdateStats | null;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  dispose(): void;
}

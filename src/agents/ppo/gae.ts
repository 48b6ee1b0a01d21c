/*
 * Generalized advantage estimation, GAE(lambda) (Schulman et al. 2016), written as CleanRL does it,
 * row by row over a rollout of T steps (rows = envs x agents):
 *
 *   delta_t = r_t + gamma * V(s_{t+1}) * (1 - term_t) - V(s_t)
 *   A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},     done_t = term_t or trunc_t
 *   R_t     = A_t + V(s_t)                                           (the value target)
 *
 * `nextValues[t]` is V of the observation returned by step t: on a truncation that is the episode's final
 * observation (bootstrapped: the episode was cut, not over); on a termination it is ignored (term_t = 1).
 * `done_t` stops the recursion at episode boundaries so advantages never leak across episodes.
 */

export interface GaeInput {
  /** Steps in the rollout. */
  steps: number;
  /** Rows per step (numEnvs * numAgents). */
  rows: number;
  /** `[steps * rows]` rewards r_t. */
  rewards: Float32Array;
  /** `[steps * rows]` V(s_t). */
  values: Float32Array;
  /** `[steps * rows]` V(s_{t+1}) of the observation step t returned. */
  nextValues: Float32Array;
  /** `[steps * rows]` 1 = terminal state after step t. */
  terminations: Uint8Array;
  /** `[steps * rows]` 1 = episode cut after step t. */
  truncations: Uint8Array;
  /** Discount (PpoConfig.gamma, default 0.99). */
  gamma: number;
  /** GAE lambda (PpoConfig.gaeLambda, default 0.95). */
  lambda: number;
}

export interface GaeOutput {
  /** `[steps * rows]` A_t */
  advantages: Float32Array;
  /** `[steps * rows]` R_t = A_t + V(s_t) */
  returns: Float32Array;
}

/** GAE(lambda) advantages and value targets. Computed in float64, stored as float32. */
export function computeGae(g: GaeInput): GaeOutput {
  const { steps: T, rows: R, gamma, lambda } = g;
  const n = T * R;
  for (const [k, a] of Object.entries({
    rewards: g.rewards,
    values: g.values,
    nextValues: g.nextValues,
    terminations: g.terminations,
    truncations: g.truncations,
  }))
    if (a.length !== n)
      throw new RangeError(`computeGae: ${k} has ${a.length} values, expected ${T}x${R}=${n}`);
  const advantages = new Float32Array(n);
  const returns = new Float32Array(n);
  for (let r = 0; r < R; r++) {
    let lastGae = 0; // A_{t+1}
    for (let t = T - 1; t >= 0; t--) {
      const i = t * R + r;
      const term = g.terminations[i] ? 1 : 0;
      const done = term || g.truncations[i] ? 1 : 0;
      const delta = g.rewards[i]! + gamma * g.nextValues[i]! * (1 - term) - g.values[i]!;
      lastGae = delta + gamma * lambda * (1 - done) * lastGae;
      advantages[i] = lastGae;
      returns[i] = lastGae + g.values[i]!;
    }
  }
  return { advantages, returns };
}

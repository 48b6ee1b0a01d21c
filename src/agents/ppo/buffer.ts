import { InputError } from '../../core/errors.js';

/*
 * The rollout buffer: T env steps x numEnvs x numAgents rows (env-major within a step). It stores the
 * REALIZED actions (after the env's budget rule) and the old log-probability of those actions recomputed
 * from the stored probability (log p for a mask, log(1 - p) for a keep): PPO's ratio must compare the
 * new and old probabilities of the action that actually happened.
 */

/** One recorded step (arrays are copies: envs may reuse their output buffers). */
export interface BufferStep {
  /** `[rows * obsDim]` observations the agent acted on. */
  obs: Float32Array;
  /** `[numEnvs * stateDim]` global state the agent acted on. */
  state: Float32Array;
  /** `[rows]` realized actions. */
  actions: Int32Array;
  /** `[rows]` old log pi(realized action). */
  logProbs: Float32Array;
  /** `[rows]` V(s_t) in return units (denormalized), for GAE. */
  values: Float32Array;
  /** `[rows]` the critic's raw outputs (normalized units when value normalization is on), for clipping. */
  valuePreds: Float32Array;
  /** `[rows]` */
  rewards: Float32Array;
  /** `[rows]` */
  terminations: Uint8Array;
  /** `[rows]` */
  truncations: Uint8Array;
  /** `[rows * obsDim]` observations the step returned (final ones on truncation). */
  nextObs: Float32Array;
  /** `[numEnvs * stateDim]` state after the step. */
  nextState: Float32Array;
}

export class RolloutBuffer {
  readonly steps: BufferStep[] = [];

  constructor(
    readonly numEnvs: number,
    readonly numAgents: number,
    readonly obsDim: number,
    readonly stateDim: number,
  ) {}

  get rows(): number {
    return this.numEnvs * this.numAgents;
  }

  get length(): number {
    return this.steps.length;
  }

  /** Append one step after checking every array's length (errors name the field and its size). */
  add(s: BufferStep): void {
    const R = this.rows;
    const want: Record<keyof BufferStep, number> = {
      obs: R * this.obsDim,
      state: this.numEnvs * this.stateDim,
      actions: R,
      logProbs: R,
      values: R,
      valuePreds: R,
      rewards: R,
      terminations: R,
      truncations: R,
      nextObs: R * this.obsDim,
      nextState: this.numEnvs * this.stateDim,
    };
    for (const k of Object.keys(want) as (keyof BufferStep)[])
      if (s[k].length !== want[k])
        throw new InputError(
          `rollout buffer: transition field '${k}' has ${s[k].length} values, expected ${want[k]} ` +
            `(numEnvs ${this.numEnvs}, numAgents ${this.numAgents}, obsDim ${this.obsDim}, stateDim ${this.stateDim})`,
        );
    this.steps.push(s);
  }

  /** True when some row of step t ended (its next observation does not continue into step t + 1). */
  stepEnded(t: number): boolean {
    const s = this.steps[t]!;
    for (let i = 0; i < s.terminations.length; i++) if (s.terminations[i] || s.truncations[i]) return true;
    return false;
  }

  /** Concatenate one field over all steps: `[T * size]`. */
  flat<K extends keyof BufferStep>(key: K): BufferStep[K] {
    const first = this.steps[0]![key];
    const out = new (first.constructor as new (n: number) => BufferStep[K])(first.length * this.steps.length);
    this.steps.forEach((s, t) => (out as Float32Array).set(s[key] as Float32Array, t * first.length));
    return out;
  }

  clear(): void {
    this.steps.length = 0;
  }
}

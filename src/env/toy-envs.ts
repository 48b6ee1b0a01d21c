import { ConfigError, InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { applyMaskBudget } from './mask-budget.js';
import { OBS_TAIL, setObsFeature } from './observation-layout.js';
import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from './parallel-env.js';
import { Box, Discrete } from './spaces.js';

/*
 * Toy parallel envs for testing and teaching the learners: no MIM model, microseconds per step. Both are
 * contextual bandits over patch agents (every step draws a new "crop"; an episode is `horizon` steps,
 * then every agent is truncated). Observation rows use MaskingEnv's layout (observation-layout.ts) so the
 * heuristic policies run on them unchanged:
 *   [ noise features (noiseDims) | z, y, x | mean | std | membrane slot = the decision-relevant feature ]
 * (patches sit on a 1 x 1 x numAgents grid; mean and std are noise.)
 *
 * ScoreMaskEnv: per-agent rewards. Half of each env's patches are important (score in [0.5, 1)), half not
 * (score in [0, 0.5)), so "score in the top half of its env" and "score >= 0.5" agree. Reward +1 for a
 * correct decision (mask an important patch, keep an unimportant one), -1 for a wrong one ('mirror'), or
 * only masks are rewarded +1/-1 and keeps get 0 ('zero'). The mask budget [minRatio, maxRatio] is on
 * (MaskingEnv's, src/env/mask-budget.ts).
 *
 * TeamMaskEnv: a shared team reward. Each env has K in [1, numAgents/2] important patches (membrane slot
 * 1, else 0) and a crop "difficulty" c ~ N(0, difficultyStd^2), like the reconstruction loss of a crop that
 * dominates MaskingEnv's rewards. Every agent of the env receives
 *     R = c + (TP - FP) / numAgents       (TP: important patches masked, FP: unimportant ones masked)
 * c is in the global state but in no agent's observation: a centralized critic V(s) removes it from the
 * advantages, a per-agent critic V(o_i) cannot, so IPPO's learning signal (1/numAgents per decision) is
 * buried under the difficulty's variance. Optimum: mask exactly the important patches.
 */

/** Options shared by the toy envs. */
export interface ToyEnvOptions {
  /** Parallel envs (default 4). */
  numEnvs?: number;
  /** Patch agents per env (default 16; even). */
  numAgents?: number;
  /** Pure-noise features in front of the layout tail (default 2). */
  noiseDims?: number;
  /** Steps per episode before truncation (default 4). */
  horizon?: number;
  /** Seed of the first reset when `reset()` gets none (default 0). */
  seed?: number;
}

/** Info of a toy step. */
export interface ToyStepInfo extends StepInfo {
  /** Share of realized decisions that were correct, per env `[numEnvs]`. */
  correct: Float32Array;
  /** Realized mask ratio per env `[numEnvs]`. */
  maskRatio: Float32Array;
}

abstract class ToyEnv implements ParallelEnv<ToyStepInfo> {
  readonly numEnvs: number;
  readonly numAgents: number;
  readonly obsDim: number;
  readonly horizon: number;
  readonly noiseDims: number;
  readonly possibleAgents: readonly string[];
  abstract readonly stateDim: number;
  protected rng: Rng;
  /** Breaks ties of the mask budget (its own stream: the crops do not depend on the flips). */
  protected budgetRng: Rng;
  protected t = 0;
  protected obs: Float32Array;
  /** 1 where a patch is important `[numEnvs * numAgents]`. */
  protected important: Uint8Array;
  protected lastRatio: Float32Array;
  private needsReset = true;
  private closed = false;

  constructor(opts: ToyEnvOptions, name: string) {
    this.numEnvs = opts.numEnvs ?? 4;
    this.numAgents = opts.numAgents ?? 16;
    this.noiseDims = opts.noiseDims ?? 2;
    this.horizon = opts.horizon ?? 4;
    for (const [k, v] of Object.entries({
      numEnvs: this.numEnvs,
      numAgents: this.numAgents,
      horizon: this.horizon,
    }))
      if (!Number.isInteger(v) || v < 1)
        throw new ConfigError(`${name}: ${k} must be an integer >= 1, got ${v}`);
    if (this.numAgents % 2 !== 0 || this.numAgents < 2)
      throw new ConfigError(`${name}: numAgents must be even and >= 2, got ${this.numAgents}`);
    if (!Number.isInteger(this.noiseDims) || this.noiseDims < 0)
      throw new ConfigError(`${name}: noiseDims must be an integer >= 0, got ${this.noiseDims}`);
    this.obsDim = this.noiseDims + OBS_TAIL;
    this.possibleAgents = Array.from({ length: this.numAgents }, (_, i) => `patch_0_0_${i}`);
    this.rng = Rng.fromSeed(opts.seed ?? 0);
    this.budgetRng = this.rng.split('budget');
    const R = this.numEnvs * this.numAgents;
    this.obs = new Float32Array(R * this.obsDim);
    this.important = new Uint8Array(R);
    this.lastRatio = new Float32Array(this.numEnvs);
  }

  get agents(): readonly string[] {
    return this.possibleAgents;
  }

  observationSpace(): Box {
    return new Box(-Infinity, Infinity, [this.obsDim]);
  }

  actionSpace(): Discrete {
    return new Discrete(2);
  }

  stateSpace(): Box {
    return new Box(-Infinity, Infinity, [this.stateDim]);
  }

  /** Draw the next "crop" of every env: fill `important`, the membrane slot and per-env extras. */
  protected abstract drawCrops(): void;

  /** Rewards of the realized actions `[rows]`. */
  protected abstract rewardsOf(realized: Int32Array): Float32Array;

  /** Budget applied to the sampled actions. */
  protected abstract budget(actions: Int32Array, preferences?: Float32Array): Int32Array;

  abstract state(): Float32Array;

  /** Fill noise features and positions of every row, then the crops. */
  protected observeNew(): Float32Array {
    const { obsDim: D, numAgents: N } = this;
    for (let r = 0; r < this.numEnvs * N; r++) {
      const row = r * D;
      for (let j = 0; j < this.noiseDims; j++) this.obs[row + j] = this.rng.normal();
      setObsFeature(this.obs, D, r, 'z', 0);
      setObsFeature(this.obs, D, r, 'y', 0);
      setObsFeature(this.obs, D, r, 'x', N > 1 ? (r % N) / (N - 1) : 0);
      setObsFeature(this.obs, D, r, 'mean', this.rng.normal());
      setObsFeature(this.obs, D, r, 'std', this.rng.normal());
    }
    this.drawCrops();
    return Float32Array.from(this.obs);
  }

  reset(opts: ResetOptions = {}): ResetResult {
    if (this.closed) throw new InputError('toy env: reset() after close()');
    if (opts.seed !== undefined) {
      this.rng = Rng.fromSeed(opts.seed);
      this.budgetRng = this.rng.split('budget');
    }
    this.t = 0;
    this.lastRatio.fill(0);
    this.needsReset = false;
    return { observations: this.observeNew(), infos: {} };
  }

  step(actions: Int32Array, preferences?: Float32Array): StepResult<ToyStepInfo> {
    const R = this.numEnvs * this.numAgents;
    if (this.needsReset) throw new InputError('toy env: step() before reset() (or after the episode ended)');
    if (actions.length !== R)
      throw new InputError(
        `toy env: actions have ${actions.length} values, expected ${this.numEnvs} x ${this.numAgents}`,
      );
    if (preferences && preferences.length !== R)
      throw new InputError(`toy env: preferences have ${preferences.length} values, expected ${R}`);
    const realized = this.budget(actions, preferences);
    const rewards = this.rewardsOf(realized);
    const correct = new Float32Array(this.numEnvs);
    const maskRatio = new Float32Array(this.numEnvs);
    for (let r = 0; r < R; r++) {
      const e = Math.floor(r / this.numAgents);
      if (realized[r] === this.important[r]) correct[e]! += 1 / this.numAgents;
      maskRatio[e]! += realized[r]! / this.numAgents;
    }
    this.lastRatio.set(maskRatio);
    this.t++;
    const truncated = this.t >= this.horizon;
    if (truncated) this.needsReset = true;
    return {
      observations: this.observeNew(),
      rewards,
      terminations: new Uint8Array(R),
      truncations: new Uint8Array(R).fill(truncated ? 1 : 0),
      infos: {
        realizedActions: realized,
        rewardTerms: { task: Float32Array.from(rewards) },
        correct,
        maskRatio,
      },
    };
  }

  close(): void {
    this.closed = true;
  }
}

/** Options of {@link ScoreMaskEnv}. */
export interface ScoreMaskEnvOptions extends ToyEnvOptions {
  /** Budget lower bound on the mask ratio (default 0.4). */
  minRatio?: number;
  /** Budget upper bound on the mask ratio (default 0.6). */
  maxRatio?: number;
  /** 'mirror': keeps are rewarded +1/-1 like masks; 'zero': keeps get 0 (default 'mirror'). */
  keepReward?: 'mirror' | 'zero';
}

/** Per-agent rewards for masking the top-scoring half of each env (see the file comment). */
export class ScoreMaskEnv extends ToyEnv {
  readonly stateDim = 2;
  readonly minRatio: number;
  readonly maxRatio: number;
  readonly keepReward: 'mirror' | 'zero';
  private scores: Float32Array;

  constructor(opts: ScoreMaskEnvOptions = {}) {
    super(opts, 'ScoreMaskEnv');
    this.minRatio = opts.minRatio ?? 0.4;
    this.maxRatio = opts.maxRatio ?? 0.6;
    this.keepReward = opts.keepReward ?? 'mirror';
    if (!(this.minRatio >= 0 && this.minRatio <= this.maxRatio && this.maxRatio <= 1))
      throw new ConfigError(
        `ScoreMaskEnv: need 0 <= minRatio <= maxRatio <= 1, got ${this.minRatio}, ${this.maxRatio}`,
      );
    this.scores = new Float32Array(this.numEnvs * this.numAgents);
  }

  protected drawCrops(): void {
    const N = this.numAgents;
    for (let e = 0; e < this.numEnvs; e++) {
      // Exactly half important: a random half of the agents gets scores in [0.5, 1).
      const order = this.rng.shuffle(Array.from({ length: N }, (_, i) => i));
      order.forEach((a, k) => {
        const r = e * N + a;
        const imp = k < N / 2 ? 1 : 0;
        this.important[r] = imp;
        this.scores[r] = imp ? this.rng.uniform(0.5, 1) : this.rng.uniform(0, 0.5);
        setObsFeature(this.obs, this.obsDim, r, 'membrane', this.scores[r]!);
      });
    }
  }

  protected budget(actions: Int32Array, preferences?: Float32Array): Int32Array {
    return applyMaskBudget(actions, {
      numEnvs: this.numEnvs,
      numAgents: this.numAgents,
      minRatio: this.minRatio,
      maxRatio: this.maxRatio,
      ...(preferences ? { preferences } : {}),
      rng: this.budgetRng,
    });
  }

  protected rewardsOf(realized: Int32Array): Float32Array {
    const r = new Float32Array(realized.length);
    for (let i = 0; i < r.length; i++) {
      const right = realized[i] === this.important[i] ? 1 : -1;
      r[i] = realized[i] === 1 || this.keepReward === 'mirror' ? right : 0;
    }
    return r;
  }

  /**
   * `[numEnvs, 2]`: mean score of the current crop, last realized ratio. No time: the horizon is a
   * credit-assignment window, not part of the task (as in MaskingEnv).
   */
  state(): Float32Array {
    const s = new Float32Array(this.numEnvs * this.stateDim);
    for (let e = 0; e < this.numEnvs; e++) {
      let m = 0;
      for (let a = 0; a < this.numAgents; a++) m += this.scores[e * this.numAgents + a]!;
      s[e * 2] = m / this.numAgents;
      s[e * 2 + 1] = this.lastRatio[e]!;
    }
    return s;
  }
}

/** Options of {@link TeamMaskEnv}. */
export interface TeamMaskEnvOptions extends ToyEnvOptions {
  /** Std of the per-crop difficulty added to the team reward (default 1). */
  difficultyStd?: number;
}

/** A shared team reward where a centralized critic helps (see the file comment). */
export class TeamMaskEnv extends ToyEnv {
  readonly stateDim = 2;
  readonly difficultyStd: number;
  private difficulty: Float32Array;
  private numImportant: Int32Array;

  constructor(opts: TeamMaskEnvOptions = {}) {
    super(opts, 'TeamMaskEnv');
    this.difficultyStd = opts.difficultyStd ?? 1;
    if (!(this.difficultyStd >= 0)) throw new ConfigError(`TeamMaskEnv: difficultyStd must be >= 0`);
    this.difficulty = new Float32Array(this.numEnvs);
    this.numImportant = new Int32Array(this.numEnvs);
  }

  protected drawCrops(): void {
    const N = this.numAgents;
    for (let e = 0; e < this.numEnvs; e++) {
      this.difficulty[e] = this.difficultyStd * this.rng.normal();
      const K = 1 + this.rng.int(N / 2);
      this.numImportant[e] = K;
      const order = this.rng.shuffle(Array.from({ length: N }, (_, i) => i));
      order.forEach((a, k) => {
        const r = e * N + a;
        this.important[r] = k < K ? 1 : 0;
        setObsFeature(this.obs, this.obsDim, r, 'membrane', this.important[r]!);
      });
    }
  }

  protected budget(actions: Int32Array): Int32Array {
    return Int32Array.from(actions); // no budget: the reward alone shapes the mask
  }

  protected rewardsOf(realized: Int32Array): Float32Array {
    const N = this.numAgents;
    const r = new Float32Array(realized.length);
    for (let e = 0; e < this.numEnvs; e++) {
      let score = 0;
      for (let a = 0; a < N; a++) {
        const i = e * N + a;
        if (realized[i] === 1) score += this.important[i] ? 1 : -1;
      }
      r.fill(this.difficulty[e]! + score / N, e * N, (e + 1) * N);
    }
    return r;
  }

  /** `[numEnvs, 2]`: crop difficulty, share of important patches (no time, as ScoreMaskEnv). */
  state(): Float32Array {
    const s = new Float32Array(this.numEnvs * this.stateDim);
    for (let e = 0; e < this.numEnvs; e++) {
      s[e * 2] = this.difficulty[e]!;
      s[e * 2 + 1] = this.numImportant[e]! / this.numAgents;
    }
    return s;
  }
}

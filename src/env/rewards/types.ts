import type { Shape3, CropBatch } from '../../data/types.js';
import type { MimModelLike, MimStepResult } from '../../models/types.js';

/*
 * Reward terms of the masking env. A term computes one value per agent row `[numEnvs * numAgents]` (env-
 * major) after the MIM update of a step; the env multiplies each term by its weight and sums. Terms are
 * built once per env by a factory (so a term can keep state, e.g. a cached held-out loss) and registered
 * under a DI token (`rewardToken(name)`), so users can add their own (see registry.ts).
 */

/** What a reward factory gets when the env is built. */
export interface RewardSetup {
  model: MimModelLike;
  numEnvs: number;
  numAgents: number;
  grid: Shape3;
  targetRatio: number;
  /** Fixed held-out crops (drawn once at construction; `n` may be 0). */
  heldOut: CropBatch;
  /** Fixed mask of the held-out crops `[heldOut.n * numAgents]` (1 = masked, ratio targetRatio). */
  heldOutMask: Uint8Array;
}

/** Everything known about a step when its rewards are computed (after the MIM update). */
export interface RewardContext {
  model: MimModelLike;
  numEnvs: number;
  numAgents: number;
  targetRatio: number;
  /** The crops of this step (the MIM update's batch). */
  crops: CropBatch;
  /** Applied actions after the budget `[numEnvs * numAgents]` (1 = masked). */
  realized: Int32Array;
  /** The policy's mask preferences `[numEnvs * numAgents]`, when given to `step`. */
  preferences?: Float32Array;
  /** Result of the MIM update. */
  mim: MimStepResult;
  /** Realized mask ratio per env `[numEnvs]`. */
  maskRatio: Float32Array;
  /** Step index within the episode (1 for the first step). */
  t: number;
}

/** What a term sees just before the MIM update of a step. */
export type BeforeUpdateContext = Omit<RewardContext, 'mim' | 'maskRatio'>;

/** One reward term. */
export interface RewardTerm {
  /**
   * True when the term costs extra model passes (held-out evaluation, probe fitting): the env computes
   * it only when its weight is non-zero.
   */
  readonly costly?: boolean;
  /** Called before the MIM update (e.g. to measure a held-out loss before it changes). */
  beforeUpdate?(ctx: BeforeUpdateContext): void;
  /** Per-agent values `[numEnvs * numAgents]`. */
  compute(ctx: RewardContext): Float32Array;
  /** Release tensors; called by `env.close()`. */
  dispose?(): void;
}

/** A stateless term: just the compute function. */
export type RewardFn = (ctx: RewardContext) => Float32Array;

/** Builds a term for one env. */
export type RewardFactory = (setup: RewardSetup) => RewardTerm;

/** `[numEnvs * numAgents]` filled with one shared value. */
export function shared(value: number, numEnvs: number, numAgents: number): Float32Array {
  return new Float32Array(numEnvs * numAgents).fill(value);
}

/** `[numEnvs * numAgents]` where every agent of env e gets `perEnv[e]`. */
export function perEnv(values: ArrayLike<number>, numAgents: number): Float32Array {
  const out = new Float32Array(values.length * numAgents);
  for (let e = 0; e < values.length; e++) out.fill(values[e]!, e * numAgents, (e + 1) * numAgents);
  return out;
}

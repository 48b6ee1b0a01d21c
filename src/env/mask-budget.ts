import { ConfigError, InputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/*
 * The mask budget (docs/architecture.md, "Masking as a decision"): per env, the realized number of masked
 * patches is kept in [ceil(minRatio * N), floor(maxRatio * N)] by flipping the decisions the policy was
 * least sure of. Too many masks: unmask the masked agents with the lowest mask preference. Too few: mask
 * the kept agents with the highest preference. Ties (a saturated policy gives many agents probability
 * exactly 0 or 1 in float32) are broken by a seeded random permutation, so the same low-index patches are
 * not always the ones flipped; without preferences that permutation alone decides. Flips are reproducible
 * from the rng. Learners must train on the realized actions this returns (`info.realizedActions`).
 */

/** Tolerance so that e.g. 0.35 * 20 = 7.000000000000001 still allows 7 masks. */
const RATIO_EPS = 1e-9;

/** Allowed count of masked agents `[lo, hi]` out of `numAgents`. */
export function budgetBounds(numAgents: number, minRatio: number, maxRatio: number): [number, number] {
  const lo = Math.ceil(minRatio * numAgents - RATIO_EPS);
  const hi = Math.floor(maxRatio * numAgents + RATIO_EPS);
  return [Math.max(0, lo), Math.min(numAgents, hi)];
}

/** Throws a ConfigError when no mask count of `numAgents` agents lies in [minRatio, maxRatio]. */
export function checkBudget(numAgents: number, minRatio: number, maxRatio: number): void {
  if (!(minRatio >= 0 && maxRatio <= 1 && minRatio <= maxRatio))
    throw new ConfigError(
      `mask budget: env.minRatio ${minRatio} and env.maxRatio ${maxRatio} must satisfy 0 <= minRatio <= maxRatio <= 1`,
    );
  const [lo, hi] = budgetBounds(numAgents, minRatio, maxRatio);
  if (lo > hi)
    throw new ConfigError(
      `mask budget: with ${numAgents} patches no mask count gives a ratio in [env.minRatio ${minRatio}, env.maxRatio ${maxRatio}]`,
    );
}

/** Options of {@link applyMaskBudget}. */
export interface MaskBudgetOptions {
  numEnvs: number;
  numAgents: number;
  minRatio: number;
  maxRatio: number;
  /** Mask preference per row `[numEnvs * numAgents]` (e.g. the policy's mask probability). */
  preferences?: Float32Array;
  /** Breaks ties between equal preferences (and orders flips without preferences); required when a flip is needed. */
  rng?: Rng;
}

/**
 * Apply the budget to binary actions `[numEnvs * numAgents]` (1 = mask), rows env-major. Returns a new
 * array; the input is not changed. Every env's realized ratio ends in [minRatio, maxRatio].
 */
export function applyMaskBudget(actions: Int32Array, opts: MaskBudgetOptions): Int32Array {
  const { numEnvs, numAgents, minRatio, maxRatio, preferences, rng } = opts;
  const n = numEnvs * numAgents;
  if (actions.length !== n)
    throw new InputError(
      `mask budget: actions have length ${actions.length}, expected numEnvs * numAgents = ${n}`,
    );
  if (preferences && preferences.length !== n)
    throw new InputError(
      `mask budget: preferences have length ${preferences.length}, expected numEnvs * numAgents = ${n}`,
    );
  checkBudget(numAgents, minRatio, maxRatio);
  const [lo, hi] = budgetBounds(numAgents, minRatio, maxRatio);
  const out = Int32Array.from(actions, (a) => (a === 1 ? 1 : 0));
  const pref = new Float64Array(numAgents); // mask preference of each agent of the current env
  const rank = new Float64Array(numAgents); // random tie-break rank of each agent
  for (let e = 0; e < numEnvs; e++) {
    const base = e * numAgents;
    let count = 0;
    for (let a = 0; a < numAgents; a++) count += out[base + a]!;
    if (count >= lo && count <= hi) continue;
    if (!rng) throw new InputError('mask budget: flips need an rng (it breaks ties between preferences)');
    for (let a = 0; a < numAgents; a++) pref[a] = preferences ? preferences[base + a]! : 0;
    const perm = rng.shuffle(Int32Array.from({ length: numAgents }, (_, i) => i)) as Int32Array;
    for (let r = 0; r < numAgents; r++) rank[perm[r]!] = r;
    const idx = Array.from({ length: numAgents }, (_, a) => a);
    if (count > hi) {
      // Unmask the masked agents with the weakest mask preference (ties: lowest random rank first).
      const masked = idx.filter((a) => out[base + a] === 1);
      masked.sort((a, b) => pref[a]! - pref[b]! || rank[a]! - rank[b]!);
      for (const a of masked.slice(0, count - hi)) out[base + a] = 0;
    } else {
      // Mask the kept agents with the strongest mask preference (ties: lowest random rank first).
      const kept = idx.filter((a) => out[base + a] === 0);
      kept.sort((a, b) => pref[b]! - pref[a]! || rank[a]! - rank[b]!);
      for (const a of kept.slice(0, lo - count)) out[base + a] = 1;
    }
  }
  return out;
}

/** Realized mask ratio of every env `[numEnvs]`. */
export function maskRatios(
  actions: Int32Array | Uint8Array,
  numEnvs: number,
  numAgents: number,
): Float32Array {
  const r = new Float32Array(numEnvs);
  for (let e = 0; e < numEnvs; e++) {
    let c = 0;
    for (let a = 0; a < numAgents; a++) c += actions[e * numAgents + a]!;
    r[e] = c / numAgents;
  }
  return r;
}

/** `k` uniformly random masked patches (1) in each of `crops` crops: `[crops * numPatches]`. */
export function randomMasks(crops: number, numPatches: number, k: number, rng: Rng): Uint8Array {
  const mask = new Uint8Array(crops * numPatches);
  for (let c = 0; c < crops; c++) {
    const perm = rng.shuffle(Int32Array.from({ length: numPatches }, (_, i) => i)) as Int32Array;
    for (let i = 0; i < k; i++) mask[c * numPatches + perm[i]!] = 1;
  }
  return mask;
}

import { InputError } from '../../core/errors.js';
import { Rng, type RngState } from '../../core/rng.js';
import { loadCheckpoint, saveCheckpoint } from '../../models/checkpoint.js';
import type { ActInput, ActOutput, Agent, UpdateStats } from '../agent.js';

/*
 * Shared machinery of the fixed (non-learning) masking policies. Each env's decision is a set of patches
 * to mask plus a priority per patch (higher = more wanted masked). The probabilities handed to the env are
 * consistent with the choice and ordered by priority: chosen patches get p in (0.5, 1], the others
 * p in [0, 0.5), so the env's budget rule (which flips the weakest preferences) unmasks the least wanted
 * chosen patch first and masks the most wanted unchosen one first.
 */

/** One env's choice: `chosen[i] = 1` masks patch i; `priority[i]` orders the patches. */
export interface EnvChoice {
  chosen: Uint8Array;
  priority: Float64Array;
}

/** What a heuristic sees of one env. */
export interface EnvView {
  /** The env's observation rows `[numAgents * obsDim]` (a view, do not modify). */
  obs: Float32Array;
  numAgents: number;
  obsDim: number;
  /** Patches to mask in this env. */
  k: number;
}

/** Mask count for ratio r over n patches: floor(r n) plus one with probability frac(r n) (exact on average). */
export function maskCount(ratio: number, n: number, rng: Rng): number {
  const x = ratio * n;
  const base = Math.floor(x);
  return Math.min(n, base + (rng.next() < x - base ? 1 : 0));
}

/** Indices of the k largest scores (ties broken by lower index). */
export function topK(scores: ArrayLike<number>, k: number, among?: ArrayLike<number>): number[] {
  const idx = among ? Array.from(among) : Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx.slice(0, Math.max(0, k));
}

/** Probabilities of action 1 consistent with `chosen` and ordered by `priority` (see the file comment). */
export function rankProbs(c: EnvChoice): Float32Array {
  const n = c.chosen.length;
  const probs = new Float32Array(n);
  for (const flag of [1, 0]) {
    const members: number[] = [];
    for (let i = 0; i < n; i++) if (c.chosen[i] === flag) members.push(i);
    members.sort((a, b) => c.priority[a]! - c.priority[b]! || b - a); // weakest first
    const m = members.length;
    members.forEach((i, r) => {
      const frac = (r + 1) / (m + 1); // in (0, 1)
      probs[i] = flag ? 0.5 + 0.5 * frac : 0.5 * frac;
    });
  }
  return probs;
}

/** Base class: a fixed policy with a no-op update; saves only its RNG stream (exact resume). */
export abstract class HeuristicAgent implements Agent {
  readonly learns = false;
  protected rng: Rng;

  constructor(
    readonly name: string,
    /** Share of patches to mask per env. */
    readonly ratio: number,
    rng: Rng,
  ) {
    if (!(ratio >= 0 && ratio <= 1)) throw new InputError(`${name}: ratio must be in [0, 1], got ${ratio}`);
    this.rng = rng;
  }

  /** Choose the env's masks. */
  protected abstract choose(view: EnvView): EnvChoice;

  act(input: ActInput): ActOutput {
    const { numEnvs: E, numAgents: N, obsDim } = input;
    if (input.observations.length !== E * N * obsDim)
      throw new InputError(
        `${this.name}.act: observations have ${input.observations.length} values, expected [${E} x ${N}, ${obsDim}]`,
      );
    const R = E * N;
    const out: ActOutput = {
      actions: new Int32Array(R),
      probs: new Float32Array(R),
      logProbs: new Float32Array(R),
      values: new Float32Array(R),
    };
    for (let e = 0; e < E; e++) {
      const obs = input.observations.subarray(e * N * obsDim, (e + 1) * N * obsDim);
      const choice = this.choose({ obs, numAgents: N, obsDim, k: maskCount(this.ratio, N, this.rng) });
      const probs = rankProbs(choice);
      for (let i = 0; i < N; i++) {
        const a = choice.chosen[i]!;
        out.actions[e * N + i] = a;
        out.probs[e * N + i] = probs[i]!;
        out.logProbs[e * N + i] = Math.log(a ? probs[i]! : 1 - probs[i]!);
      }
    }
    return out;
  }

  observe(): void {}

  update(): UpdateStats | null {
    return null;
  }

  async save(dir: string): Promise<void> {
    await saveCheckpoint(dir, [], { meta: { agent: this.name }, rng: { act: this.rng.getState() } });
  }

  async load(dir: string): Promise<void> {
    const ck = loadCheckpoint(dir);
    const s = (ck.manifest.rng as Record<string, RngState | undefined>).act;
    if (s) this.rng = Rng.restore(s);
  }

  dispose(): void {}
}

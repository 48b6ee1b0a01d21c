import type { Rng } from '../../core/rng.js';
import { obsFeature } from '../../env/observation-layout.js';
import { HeuristicAgent, topK, type EnvChoice, type EnvView } from './heuristic-agent.js';

/** Options of the edge-biased policy. */
export interface EdgeOptions {
  /** Share of patches to mask (default 0.75). */
  ratio?: number;
  /** Exponent on the membrane proxy: larger concentrates masks on the strongest edges (default 1). */
  power?: number;
  /** Std of Gaussian noise added to the score (0 = deterministic ranking; default 0). */
  noise?: number;
}

/**
 * Edge score of every patch: proxy^power + noise * N(0, 1), the proxy read from the observation tail
 * (membrane proxy: the patch's mean absolute intensity gradient over the crop mean; observation-layout.ts).
 */
export function edgeScores(v: EnvView, power: number, noise: number, rng: Rng): Float64Array {
  const s = new Float64Array(v.numAgents);
  for (let i = 0; i < v.numAgents; i++) {
    const proxy = obsFeature(v.obs, v.obsDim, i, 'membrane');
    // Sign-preserving power so a (never expected) negative proxy cannot give NaN.
    s[i] = Math.sign(proxy) * Math.abs(proxy) ** power + (noise > 0 ? noise * rng.normal() : 0);
  }
  return s;
}

/** The edge score's settings with their defaults (shared by the edge and mixed policies). */
export function edgeScoreOptions(opts: EdgeOptions): { power: number; noise: number } {
  return { power: opts.power ?? 1, noise: opts.noise ?? 0 };
}

/** Edge-biased masking: mask the k patches with the highest edge score (membrane-rich patches). */
export class EdgeMaskAgent extends HeuristicAgent {
  readonly score: { power: number; noise: number };

  constructor(rng: Rng, opts: EdgeOptions = {}) {
    super('edge', opts.ratio ?? 0.75, rng);
    this.score = edgeScoreOptions(opts);
  }

  protected choose(v: EnvView): EnvChoice {
    const priority = edgeScores(v, this.score.power, this.score.noise, this.rng);
    const chosen = new Uint8Array(v.numAgents);
    for (const i of topK(priority, v.k)) chosen[i] = 1;
    return { chosen, priority };
  }
}

import type { Rng } from '../../core/rng.js';
import { HeuristicAgent, topK, type EnvChoice, type EnvView } from './heuristic-agent.js';
import { edgeScoreOptions, edgeScores, type EdgeOptions } from './edge.js';

/** Options of the mixed edge/random policy. */
export interface MixedOptions extends EdgeOptions {
  /** Share of the masks chosen by edge score; the rest are random among the remaining patches (default 0.5). */
  edgeFraction?: number;
}

/**
 * Mixed masking: round(edgeFraction x k) masks go to the highest edge scores, the remaining masks to
 * uniformly random other patches. The strongest fixed strategy in the reference's own ablations.
 */
export class MixedMaskAgent extends HeuristicAgent {
  readonly edgeFraction: number;
  readonly score: { power: number; noise: number };

  constructor(rng: Rng, opts: MixedOptions = {}) {
    super('mixed', opts.ratio ?? 0.75, rng);
    this.edgeFraction = opts.edgeFraction ?? 0.5;
    this.score = edgeScoreOptions(opts);
  }

  /** Masks chosen by edge score out of k. */
  edgeCount(k: number): number {
    return Math.round(this.edgeFraction * k);
  }

  protected choose(v: EnvView): EnvChoice {
    const edge = edgeScores(v, this.score.power, this.score.noise, this.rng);
    const chosen = new Uint8Array(v.numAgents);
    // Priority: edge-chosen (>= 2) above random-chosen ([1, 2)) above unchosen ([0, 1)).
    const priority = Float64Array.from({ length: v.numAgents }, () => this.rng.next());
    const byEdge = topK(edge, this.edgeCount(v.k));
    byEdge.forEach((i, r) => {
      chosen[i] = 1;
      priority[i] = 2 + (byEdge.length - r);
    });
    const rest: number[] = [];
    for (let i = 0; i < v.numAgents; i++) if (!chosen[i]) rest.push(i);
    for (const i of topK(priority, v.k - byEdge.length, rest)) {
      chosen[i] = 1;
      priority[i]! += 1;
    }
    return { chosen, priority };
  }
}

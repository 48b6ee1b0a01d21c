import type { Rng } from '../../core/rng.js';
import { HeuristicAgent, topK, type EnvChoice, type EnvView } from './heuristic-agent.js';

/**
 * Random masking (MAE): per env, a uniformly random set of round(ratio x patches) patches (stochastic
 * rounding, so the ratio is exact on average). Default ratio 0.75.
 */
export class RandomMaskAgent extends HeuristicAgent {
  constructor(rng: Rng, ratio = 0.75) {
    super('random', ratio, rng);
  }

  protected choose(v: EnvView): EnvChoice {
    const priority = Float64Array.from({ length: v.numAgents }, () => this.rng.next());
    const chosen = new Uint8Array(v.numAgents);
    for (const i of topK(priority, v.k)) chosen[i] = 1;
    return { chosen, priority };
  }
}

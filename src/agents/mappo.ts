import { createPpoLearner, type PpoLearnerOptions } from './ppo/learner-options.js';
import type { PpoAgent } from './ppo/ppo-agent.js';

/*
 * MAPPO (Yu et al. 2022) with parameter sharing: the same actor as IPPO; the critic is centralized, V(s)
 * of the env's global state (`env.state()`: pooled tokens, training progress, realized ratio in
 * MaskingEnv), repeated for every agent of the env. Value targets are normalized by running statistics
 * (ValueNorm); predictions are denormalized before GAE. Centralized training, decentralized execution:
 * acting needs only the observations (the critic is not used for the action).
 */

/** Options of {@link createMappo} (value normalization on by default). */
export type MappoOptions = PpoLearnerOptions;

/** Build a MAPPO learner. */
export function createMappo(o: MappoOptions): PpoAgent {
  return createPpoLearner('mappo', 'central', /* defaultValueNorm */ true, o);
}

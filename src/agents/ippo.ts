import { createPpoLearner, type PpoLearnerOptions } from './ppo/learner-options.js';
import type { PpoAgent } from './ppo/ppo-agent.js';

/*
 * IPPO (independent PPO, de Witt et al. 2020) with parameter sharing: every patch agent runs the same
 * actor on its own observation (decentralized; `ppo.useContext` adds a pooled context of the crop), and
 * the critic V(o_i) sees only the agent's own observation. It treats the other agents as part of the
 * environment; no value normalization by default (CleanRL's PPO).
 */

/** Options of {@link createIppo} (value normalization off by default). */
export type IppoOptions = PpoLearnerOptions;

/** Build an IPPO learner. */
export function createIppo(o: IppoOptions): PpoAgent {
  return createPpoLearner('ippo', 'agent', /* defaultValueNorm */ false, o);
}

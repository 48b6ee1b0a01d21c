import type { AgentContext } from './registry.js';
import { PpoAgent } from './ppo/ppo-agent.js';

/*
 * IPPO (independent PPO, de Witt et al. 2020) with parameter sharing: every patch agent runs the same
 * actor on its own observation (decentralized; `ppo.useContext` adds a pooled context of the crop), and
 * the critic V(o_i) sees only the agent's own observation. It treats the other agents as part of the
 * environment; no value normalization by default (CleanRL's PPO).
 */

/** Build an IPPO learner; every knob comes from `ctx.config` (see {@link PpoAgentOptions}). */
export function createIppo(ctx: AgentContext): PpoAgent {
  return new PpoAgent({ ...ctx, name: 'ippo', critic: 'agent' });
}

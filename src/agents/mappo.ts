import type { AgentContext } from './registry.js';
import { PpoAgent } from './ppo/ppo-agent.js';

/*
 * MAPPO (Yu et al. 2022) with parameter sharing: the same actor as IPPO (the agent's own observation); the
 * critic is centralized. By default it values the paper's agent-specific global state, V(s_e, o_i): the
 * env's global state (`env.state()`: mean patch embedding, mean membrane proxy, last realized ratio and
 * masked loss in MaskingEnv) concatenated with the agent's own observation, one value per agent to match
 * the per-agent rewards; `ppo.criticInput = 'global'` values s_e alone, repeated for the env's agents.
 * Value targets are normalized by running statistics (ValueNorm, unless `ppo.valueNorm` is false);
 * predictions are denormalized before GAE. Centralized training, decentralized execution: acting needs
 * only the observations.
 */

/** Build a MAPPO learner; every knob comes from `ctx.config` (see {@link PpoAgentOptions}). */
export function createMappo(ctx: AgentContext): PpoAgent {
  return new PpoAgent({ ...ctx, name: 'mappo', critic: 'central' });
}

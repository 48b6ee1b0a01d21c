import { BlockMaskAgent } from './heuristics/block.js';
import { EdgeMaskAgent } from './heuristics/edge.js';
import { MixedMaskAgent } from './heuristics/mixed.js';
import { RandomMaskAgent } from './heuristics/random.js';
import { createIppo } from './ippo.js';
import { createMappo } from './mappo.js';
import { registerAgent, type AgentContext } from './registry.js';

/** Names of the built-in agents. */
export const BUILTIN_AGENTS = ['ippo', 'mappo', 'random', 'edge', 'mixed', 'block'] as const;

/** Register the built-in agents in the root container (idempotent). */
export function registerBuiltinAgents(): void {
  const edge = (c: AgentContext) => ({
    ratio: c.config.agent.ratio,
    power: c.config.agent.edgePower,
    noise: c.config.agent.edgeNoise,
  });
  registerAgent('ippo', createIppo);
  registerAgent('mappo', createMappo);
  registerAgent('random', (c) => new RandomMaskAgent(c.rng, c.config.agent.ratio));
  registerAgent('edge', (c) => new EdgeMaskAgent(c.rng, edge(c)));
  registerAgent(
    'mixed',
    (c) => new MixedMaskAgent(c.rng, { ...edge(c), edgeFraction: c.config.agent.edgeFraction }),
  );
  registerAgent(
    'block',
    (c) =>
      new BlockMaskAgent(c.rng, {
        ratio: c.config.agent.ratio,
        maxSideFraction: c.config.agent.blockMaxSideFraction,
      }),
  );
}

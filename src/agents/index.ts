/*
 * The agents room: the Agent contract, PPO core, IPPO, MAPPO, the heuristic policies and the registry.
 * Importing this module registers the built-in agents.
 */
import { registerBuiltinAgents } from './builtins.js';

export * from './agent.js';
export * from './ppo/gae.js';
export * from './ppo/losses.js';
export * from './ppo/buffer.js';
export * from './ppo/value-norm.js';
export * from './ppo/ppo-agent.js';
export * from './ippo.js';
export * from './mappo.js';
export * from './heuristics/heuristic-agent.js';
export * from './heuristics/random.js';
export * from './heuristics/edge.js';
export * from './heuristics/mixed.js';
export * from './heuristics/block.js';
export * from './registry.js';
export * from './builtins.js';
export * from './step-loop.js';
export * from './train-loop.js';
export * from './env-io.js';

registerBuiltinAgents();

import type { DependencyContainer } from 'tsyringe';
import type { Config } from '../core/config.js';
import { rootDi } from '../core/container.js';
import { ConfigError } from '../core/errors.js';
import { NamedRegistry } from '../core/registry.js';
import type { Rng } from '../core/rng.js';
import { agentToken } from '../core/tokens.js';
import type { Agent } from './agent.js';

/*
 * The agent registry: factories registered in the DI container under `agentToken(name)`, so
 * `--agent my-agent` (config `agent.name`) builds an agent defined outside the library. The built-in
 * agents are registered when src/agents/index.ts is imported.
 */

/** What a factory gets to build an agent for an env. */
export interface AgentContext {
  obsDim: number;
  stateDim: number;
  numAgents: number;
  numEnvs: number;
  config: Config;
  /** The agent's own stream (split it per purpose). */
  rng: Rng;
}

/** Builds an agent for an env; registered under a name with {@link registerAgent}. */
export type AgentFactory = (ctx: AgentContext) => Agent;

/** Agent factories by name (the registry style every named extension uses). */
const AGENTS = new NamedRegistry<AgentFactory>('agent', agentToken, 'agent.name / --agent');

/** Register (or replace) the factory of agent `name`. */
export function registerAgent(
  name: string,
  factory: AgentFactory,
  container: DependencyContainer = rootDi,
): void {
  AGENTS.register(name, factory, container);
}

/** Names of the registered agents visible from `container` (sorted). */
export function registeredAgents(container: DependencyContainer = rootDi): string[] {
  return AGENTS.list(container);
}

/** Build the agent registered under `name`; unknown names are a ConfigError listing the known ones. */
export function createAgent(name: string, ctx: AgentContext, container: DependencyContainer = rootDi): Agent {
  const agent = AGENTS.resolve(name, container)(ctx);
  if (!agent || typeof agent.act !== 'function' || typeof agent.update !== 'function')
    throw new ConfigError(
      `agent factory '${name}' did not return an Agent (act/observe/update/save/load/dispose)`,
    );
  return agent;
}

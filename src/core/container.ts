import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { Config } from './config.js';
import { Rng } from './rng.js';
import { TOKENS } from './tokens.js';

/** The library-wide root container: registries (agents, reward terms) live here. */
export const rootDi: DependencyContainer = rootContainer;

/**
 * A child container for one run: the config and the run's root RNG registered under their tokens.
 * Registries of the root container stay visible to it.
 */
export function createRunContainer(config: Config): DependencyContainer {
  const c = rootDi.createChildContainer();
  c.register(TOKENS.Config, { useValue: config });
  c.register(TOKENS.Rng, { useValue: Rng.fromSeed(config.seed) });
  return c;
}

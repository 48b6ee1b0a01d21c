import type { DependencyContainer } from 'tsyringe';
import { rootDi } from './container.js';
import { ConfigError } from './errors.js';

/*
 * The one registry style, for agents and reward terms alike: a value registered in a DI container under
 * a token derived from its name (so a run container can hold its own, and sees the root container's),
 * one name rule, one error for an unknown name listing the known ones.
 */

/** Registry names: a letter or digit, then letters, digits, '-', '_' or '.'. */
const NAME_RULE = /^[A-Za-z0-9][\w.-]*$/;

/** Throw a ConfigError unless `name` follows the registry name rule. */
export function assertRegistryName(kind: string, name: string): void {
  if (typeof name !== 'string' || !NAME_RULE.test(name))
    throw new ConfigError(
      `invalid ${kind} name '${String(name)}' (a letter or digit, then letters, digits, '-', '_', '.')`,
    );
}

/** Named factories of one kind (agent factories, reward factories) in DI containers. */
export class NamedRegistry<T extends (...args: never[]) => unknown> {
  /** Every name ever registered in any container (tsyringe cannot list registrations). */
  private readonly names = new Set<string>();

  /**
   * @param kind - what the values are, for messages ('agent', 'reward term')
   * @param tokenOf - the DI token of a name
   * @param selectedBy - where a user names one, for the unknown-name message (e.g. 'agent.name / --agent')
   */
  constructor(
    readonly kind: string,
    readonly tokenOf: (name: string) => string,
    private readonly selectedBy: string,
  ) {}

  /** Register (or replace) `factory` under `name` in `container`. */
  register(name: string, factory: T, container: DependencyContainer = rootDi): void {
    assertRegistryName(this.kind, name);
    if (typeof factory !== 'function')
      throw new ConfigError(`${this.kind} '${name}': the factory must be a function, got ${typeof factory}`);
    container.register(this.tokenOf(name), { useValue: factory });
    this.names.add(name);
  }

  /** Names visible from `container` (its own and its parents'), sorted. */
  list(container: DependencyContainer = rootDi): string[] {
    return [...this.names].filter((n) => container.isRegistered(this.tokenOf(n), true)).sort();
  }

  /** The factory registered under `name`; a ConfigError naming the known ones when there is none. */
  resolve(name: string, container: DependencyContainer = rootDi): T {
    const token = this.tokenOf(name);
    if (!container.isRegistered(token, true))
      throw new ConfigError(
        `unknown ${this.kind} '${name}' (${this.selectedBy}); registered ${this.kind}s: ${this.list(container).join(', ') || '(none)'}`,
      );
    return container.resolve<T>(token);
  }
}

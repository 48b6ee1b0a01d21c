import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { NamedTensor } from './types.js';

/*
 * Named trainable parameters. Every weight is a tf.Variable registered under a slash-separated name
 * (`encoder/blocks/0/attn/qkv/w`); checkpoints, encoder transfer and the optimizer all go by these names.
 * Initial values come from a child stream of the init RNG split by the parameter's name, so the value of a
 * weight does not depend on the order in which weights are created (never Math.random).
 */

/** How a parameter is initialized. */
export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  /** Xavier/Glorot uniform (MAE's choice for linear layers). */
  | { kind: 'xavier'; fanIn: number; fanOut: number }
  | { kind: 'normal'; std: number }
  | { kind: 'values'; data: Float32Array };

/** A registered parameter. `decay` = subject to weight decay (matrices; not norms, biases, embeddings). */
export interface Param {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

function initValues(size: number, init: Init, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'xavier': {
      const a = Math.sqrt(6 / (init.fanIn + init.fanOut));
      for (let i = 0; i < size; i++) out[i] = rng.uniform(-a, a);
      break;
    }
    case 'normal':
      for (let i = 0; i < size; i++) out[i] = rng.normal() * init.std;
      break;
    case 'values':
      if (init.data.length !== size)
        throw new ConfigError(`parameter init: ${init.data.length} values for ${size} entries`);
      out.set(init.data);
      break;
  }
  return out;
}

/** The parameters of one model, by name. */
export class ParamStore {
  private readonly params = new Map<string, Param>();

  /** @param rng the init stream (already split for 'init'); each parameter draws from `rng.split(name)`. */
  constructor(private readonly rng: Rng) {}

  /** Create and register a parameter. */
  add(name: string, shape: number[], init: Init, decay = false): tf.Variable {
    if (this.params.has(name)) throw new ConfigError(`parameter '${name}' is defined twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    const data = initValues(size, init, this.rng.split(name));
    // tidy frees the initial tensor; the variable survives (variables are never tidied)
    const variable = tf.tidy(() =>
      tf.variable(tf.tensor(data, shape, 'float32'), true, `${name}#${uniqueId++}`),
    );
    this.params.set(name, { name, variable, decay });
    return variable;
  }

  /** A view that prefixes names with `prefix/`. */
  scope(prefix: string): ParamScope {
    return new ParamScope(this, prefix);
  }

  get(name: string): Param | undefined {
    return this.params.get(name);
  }

  /** All parameters (registration order), optionally only those whose name starts with `prefix`. */
  list(prefix = ''): Param[] {
    return [...this.params.values()].filter((p) => p.name.startsWith(prefix));
  }

  /** Name + tensor pairs (the variables themselves, not copies). */
  named(prefix = ''): NamedTensor[] {
    return this.list(prefix).map((p) => ({ name: p.name, tensor: p.variable }));
  }

  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    this.params.clear();
  }
}

// tf variable names must be unique per engine; the registry name is what matters to us.
let uniqueId = 0;

/** A name prefix over a {@link ParamStore}. */
export class ParamScope {
  constructor(
    readonly store: ParamStore,
    readonly prefix: string,
  ) {}

  add(name: string, shape: number[], init: Init, decay = false): tf.Variable {
    return this.store.add(`${this.prefix}/${name}`, shape, init, decay);
  }

  scope(name: string): ParamScope {
    return new ParamScope(this.store, `${this.prefix}/${name}`);
  }
}

import type { Rng } from '../core/rng.js';

/**
 * Spaces (Gymnasium style): what an observation or action may be. `sample(rng)` draws from the space,
 * `contains(x)` checks a value (shape, dtype and bounds).
 */
export interface Space<T> {
  readonly kind: 'discrete' | 'box' | 'multi-binary';
  readonly shape: readonly number[];
  readonly dtype: 'int32' | 'float32' | 'uint8';
  sample(rng: Rng): T;
  contains(x: unknown): boolean;
}

/** Integers {0, ..., n-1}. */
export class Discrete implements Space<number> {
  readonly kind = 'discrete' as const;
  readonly shape = [] as const;
  readonly dtype = 'int32' as const;
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`Discrete(n): n must be an integer >= 1, got ${n}`);
  }
  sample(rng: Rng): number {
    return rng.int(this.n);
  }
  contains(x: unknown): boolean {
    return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < this.n;
  }
}

/** Float32 arrays of a fixed shape with element-wise bounds (possibly infinite). */
export class Box implements Space<Float32Array> {
  readonly kind = 'box' as const;
  readonly dtype = 'float32' as const;
  readonly size: number;
  constructor(
    readonly low: number,
    readonly high: number,
    readonly shape: readonly number[],
  ) {
    if (!(low <= high)) throw new RangeError(`Box: low ${low} must be <= high ${high}`);
    if (shape.some((s) => !Number.isInteger(s) || s < 0))
      throw new RangeError(`Box: shape must be non-negative integers, got [${shape.join(', ')}]`);
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  sample(rng: Rng): Float32Array {
    const out = new Float32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      const lo = Number.isFinite(this.low) ? this.low : -1;
      const hi = Number.isFinite(this.high) ? this.high : 1;
      out[i] = Number.isFinite(this.low) || Number.isFinite(this.high) ? rng.uniform(lo, hi) : rng.normal();
    }
    return out;
  }
  contains(x: unknown): boolean {
    if (!(x instanceof Float32Array) || x.length !== this.size) return false;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (Number.isNaN(v) || v < this.low || v > this.high) return false;
    }
    return true;
  }
}

/** Binary vectors of length n. */
export class MultiBinary implements Space<Uint8Array> {
  readonly kind = 'multi-binary' as const;
  readonly dtype = 'uint8' as const;
  readonly shape: readonly number[];
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`MultiBinary(n): n must be an integer >= 1, got ${n}`);
    this.shape = [n];
  }
  sample(rng: Rng): Uint8Array {
    const out = new Uint8Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = rng.bernoulli(0.5) ? 1 : 0;
    return out;
  }
  contains(x: unknown): boolean {
    if (!(x instanceof Uint8Array) || x.length !== this.n) return false;
    for (let i = 0; i < x.length; i++) if (x[i]! > 1) return false;
    return true;
  }
}

import seedrandom from 'seedrandom';

/** seedrandom's PRNG created with `{state: true}` exposes its state. */
type StatefulPrng = seedrandom.PRNG & { state(): seedrandom.State.Arc4 };

/** Serializable state of an {@link Rng} stream (for checkpoints and exact resume). */
export interface RngState {
  seed: string;
  state: object;
}

/**
 * A seeded random stream (seedrandom's ARC4). One run seed makes every draw reproducible; `split(purpose)`
 * derives an independent child stream from the seed and a purpose name, so adding a draw to one purpose
 * (say augmentation) never shifts another (say weight init or policy sampling).
 */
export class Rng {
  private prng: StatefulPrng;
  private spareNormal: number | null = null;

  constructor(
    /** The seed string this stream was made from (a number is turned into its decimal string). */
    readonly seed: string,
    state?: object,
  ) {
    this.prng = seedrandom(seed, {
      state: (state ?? true) as boolean | seedrandom.State.Arc4,
    }) as StatefulPrng;
  }

  static fromSeed(seed: number | string): Rng {
    return new Rng(String(seed));
  }

  /** An independent stream for one purpose, a pure function of (this stream's seed, purpose). */
  split(purpose: string): Rng {
    return new Rng(`${this.seed}/${purpose}`);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng.quick();
  }

  /** Uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.prng.quick();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.prng.quick() * n);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.prng.quick();
    const v = this.prng.quick();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.prng.quick() < p;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array | Float32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.prng.quick() * (i + 1));
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t as never;
    }
    return a;
  }

  /** A 32-bit integer seed drawn from this stream (for APIs that take a numeric seed). */
  int32(): number {
    return this.prng.int32() >>> 0;
  }

  /** The stream's full state; `Rng.restore(getState())` continues exactly where this one is. */
  getState(): RngState {
    // A cached Box-Muller spare would be lost; drop it so state and stream agree.
    this.spareNormal = null;
    return { seed: this.seed, state: this.prng.state() };
  }

  static restore(s: RngState): Rng {
    return new Rng(s.seed, s.state);
  }
}

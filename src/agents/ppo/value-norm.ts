/*
 * Value normalization (MAPPO's ValueNorm, "PopArt-lite"): a running mean and variance of the value
 * targets. The critic learns normalized targets (R - mean) / std; its predictions are denormalized
 * (v * std + mean) before GAE. Statistics combine batches exactly (Chan et al. parallel variance), as
 * CleanRL's RunningMeanStd; unlike full PopArt the output layer is not rescaled when the statistics move.
 */

export interface ValueNormState {
  mean: number;
  var: number;
  count: number;
}

export class ValueNorm {
  mean = 0;
  var = 1;
  /** Pseudo-count of the prior (mean 0, var 1): a small number so the first batch dominates. */
  count = 1e-4;

  /** Fold a batch of targets into the running statistics. */
  update(x: ArrayLike<number>): void {
    const n = x.length;
    if (n === 0) return;
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i]!;
    m /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[i]! - m) ** 2;
    v /= n;
    const total = this.count + n;
    const delta = m - this.mean;
    const m2 = this.var * this.count + v * n + (delta * delta * this.count * n) / total;
    this.mean += (delta * n) / total;
    this.var = m2 / total;
    this.count = total;
  }

  get std(): number {
    return Math.sqrt(Math.max(this.var, 1e-8));
  }

  normalize(x: number): number {
    return (x - this.mean) / this.std;
  }

  denormalize(x: number): number {
    return x * this.std + this.mean;
  }

  getState(): ValueNormState {
    return { mean: this.mean, var: this.var, count: this.count };
  }

  setState(s: ValueNormState): void {
    this.mean = s.mean;
    this.var = s.var;
    this.count = s.count;
  }
}

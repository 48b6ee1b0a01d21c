import { InputError } from '../core/errors.js';

/*
 * The downstream proxy of the `membrane-proxy` reward: a linear probe on frozen encoder tokens that
 * predicts each patch's boundary fraction (labels' boundary map when known, else the unsupervised
 * membrane proxy). It is a ridge regression solved in closed form (Cholesky), so "fitting" it is exact,
 * deterministic and costs microseconds for embedDim ~ 100; its held-out error measures how linearly
 * decodable membranes are from the current encoder.
 */

/** A fitted probe: y ~ x . w + b. */
export interface RidgeProbe {
  w: Float64Array;
  b: number;
}

/**
 * Ridge regression with an unpenalized intercept: minimize sum (x_i . w + b - y_i)^2 + lambda |w|^2.
 * @param x `[n, d]` features, row-major
 * @param y `[n]` targets
 */
export function ridgeFit(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  d: number,
  lambda: number,
): RidgeProbe {
  if (x.length !== n * d || y.length !== n)
    throw new InputError(
      `ridgeFit: x has ${x.length} values and y ${y.length}; expected [${n}, ${d}] and [${n}]`,
    );
  if (n < 1) throw new InputError('ridgeFit: needs at least one row');
  const xm = new Float64Array(d);
  let ym = 0;
  for (let i = 0; i < n; i++) {
    ym += y[i]!;
    for (let j = 0; j < d; j++) xm[j]! += x[i * d + j]!;
  }
  ym /= n;
  for (let j = 0; j < d; j++) xm[j]! /= n;
  // Centered normal equations (Xc' Xc + lambda I) w = Xc' yc.
  const a = new Float64Array(d * d);
  const rhs = new Float64Array(d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j]! - xm[j]!;
    const yc = y[i]! - ym;
    for (let j = 0; j < d; j++) {
      const rj = row[j]!;
      if (rj === 0) continue;
      rhs[j]! += rj * yc;
      for (let k = 0; k <= j; k++) a[j * d + k]! += rj * row[k]!;
    }
  }
  // A tiny jitter keeps lambda = 0 solvable on rank-deficient features (e.g. constant columns).
  const jitter = 1e-10 * (1 + trace(a, d) / Math.max(1, d));
  for (let j = 0; j < d; j++) a[j * d + j]! += lambda + jitter;
  const w = choleskySolve(a, rhs, d);
  let b = ym;
  for (let j = 0; j < d; j++) b -= xm[j]! * w[j]!;
  return { w, b };
}

function trace(a: Float64Array, d: number): number {
  let t = 0;
  for (let j = 0; j < d; j++) t += a[j * d + j]!;
  return t;
}

/** Solve A w = r for symmetric positive-definite A (lower triangle used), `[d, d]`. */
function choleskySolve(a: Float64Array, r: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j]!;
    for (let k = 0; k < j; k++) s -= l[j * d + k]! ** 2;
    if (!(s > 0))
      throw new InputError(`ridgeFit: the normal equations are not positive definite (pivot ${j})`);
    const ljj = Math.sqrt(s);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j]!;
      for (let k = 0; k < j; k++) t -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = t / ljj;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = r[i]!;
    for (let k = 0; k < i; k++) s -= l[i * d + k]! * z[k]!;
    z[i] = s / l[i * d + i]!;
  }
  const w = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= l[k * d + i]! * w[k]!;
    w[i] = s / l[i * d + i]!;
  }
  return w;
}

/** Mean squared error of a probe on rows `[n, d]`. */
export function probeMse(
  p: RidgeProbe,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  d: number,
): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    let v = p.b;
    for (let j = 0; j < d; j++) v += x[i * d + j]! * p.w[j]!;
    s += (v - y[i]!) ** 2;
  }
  return n ? s / n : 0;
}

/**
 * Cross-fitted probe error over `crops` crops of `rowsPerCrop` rows: two folds (even / odd crops), each
 * fitted on one and scored on the other, the mean of the two errors. With a single crop the probe is
 * fitted and scored on it (a training error). `relLambda` is relative to the mean diagonal of the
 * centered Gram matrix, so it does not depend on the token scale.
 */
export function crossFittedProbeMse(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  crops: number,
  rowsPerCrop: number,
  d: number,
  relLambda: number,
): number {
  const pick = (parity: number): { x: Float64Array; y: Float64Array; n: number } => {
    const ids = Array.from({ length: crops }, (_, c) => c).filter((c) => crops === 1 || c % 2 === parity);
    const n = ids.length * rowsPerCrop;
    const xs = new Float64Array(n * d);
    const ys = new Float64Array(n);
    ids.forEach((c, k) => {
      for (let r = 0; r < rowsPerCrop; r++) {
        const src = c * rowsPerCrop + r;
        const dst = k * rowsPerCrop + r;
        ys[dst] = y[src]!;
        for (let j = 0; j < d; j++) xs[dst * d + j] = x[src * d + j]!;
      }
    });
    return { x: xs, y: ys, n };
  };
  const fit = (f: { x: Float64Array; y: Float64Array; n: number }): RidgeProbe => {
    const lam = relLambda * centeredGramMeanDiag(f.x, f.n, d) * f.n;
    return ridgeFit(f.x, f.y, f.n, d, lam);
  };
  const even = pick(0);
  if (crops === 1) return probeMse(fit(even), even.x, even.y, even.n, d);
  const odd = pick(1);
  return 0.5 * (probeMse(fit(even), odd.x, odd.y, odd.n, d) + probeMse(fit(odd), even.x, even.y, even.n, d));
}

/** Mean over columns of the per-row variance of x: trace(Xc' Xc) / (n d). */
function centeredGramMeanDiag(x: Float64Array, n: number, d: number): number {
  let t = 0;
  for (let j = 0; j < d; j++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * d + j]!;
    m /= n;
    for (let i = 0; i < n; i++) t += (x[i * d + j]! - m) ** 2;
  }
  return t / (n * d);
}

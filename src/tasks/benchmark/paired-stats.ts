import { mean as meanOf, sampleStd } from '../../core/stats.js';
/*
 * Paired statistics over seeds, the benchmark's first table: for a row and its baseline (a policy and
 * `random`, a pretrained encoder and `scratch`) run with the same seeds, the per-seed differences
 * row - baseline (lower is better for every score, so a negative difference favours the row), their mean,
 * a 95 % Student-t interval (seeds are few: a bootstrap over 3 seeds has only 10 distinct resamples), the
 * number of seeds the row won, and the smallest mean difference the run could have detected at its spread.
 */

/** Two-sided confidence level of the intervals. */
export const CONFIDENCE = 0.95;
/** Power at which {@link PairedDifference.detectable} is computed. */
export const DETECTION_POWER = 0.8;

/** The paired comparison of a row with its baseline on one score. */
export interface PairedDifference {
  /** Seeds present in both (the pairs). */
  seeds: number[];
  /** Row minus baseline, per seed (in `seeds` order). */
  differences: number[];
  /** Mean difference (negative: the row scores lower, i.e. better). */
  mean: number;
  /** Sample standard deviation of the differences (n - 1); null for n < 2. */
  sd: number | null;
  /**
   * 95 % t interval of the mean difference, `mean ± t(0.975, n-1) sd / sqrt(n)`; null for n < 2 (one pair
   * gives no spread, hence no interval).
   */
  interval: [number, number] | null;
  /** Seeds on which the row scored strictly lower than the baseline. */
  wins: number;
  /**
   * Smallest true mean difference this run would detect (interval excluding zero) with 80 % power, from
   * the observed spread: `(t(0.975, n-1) + t(0.8, n-1)) sd / sqrt(n)`; null for n < 2.
   */
  detectable: number | null;
  /** The interval excludes zero. */
  detected: boolean;
}

/** Natural log of the gamma function (Lanczos, g = 7; relative error ~1e-15 for x > 0). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let a = c[0]!;
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
function incompleteBeta(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaFraction(a, b, x)) / a
    : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** CDF of Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

/** Quantile of Student's t (`p` in (0, 1)), by bisection on the CDF to ~1e-12. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) throw new RangeError(`t quantile: p ${p}, df ${df}`);
  let lo = -1e6;
  let hi = 1e6;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, Math.abs(lo)); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Paired difference `row - baseline` over the seeds both have (each argument maps seed -> score). Throws
 * nothing for missing pairs: seeds present in only one are left out (a failed run), and no pair gives
 * mean NaN.
 */
export function pairedDifference(row: Map<number, number>, baseline: Map<number, number>): PairedDifference {
  const seeds = [...row.keys()].filter((s) => baseline.has(s)).sort((a, b) => a - b);
  const differences = seeds.map((s) => row.get(s)! - baseline.get(s)!);
  const n = differences.length;
  const mean = n ? meanOf(differences) : NaN;
  const wins = differences.filter((d) => d < 0).length;
  if (n < 2)
    return { seeds, differences, mean, sd: null, interval: null, wins, detectable: null, detected: false };
  const sd = sampleStd(differences);
  const se = sd / Math.sqrt(n);
  const tHalf = studentTQuantile(1 - (1 - CONFIDENCE) / 2, n - 1);
  const interval: [number, number] = [mean - tHalf * se, mean + tHalf * se];
  const detectable = (tHalf + studentTQuantile(DETECTION_POWER, n - 1)) * se;
  return {
    seeds,
    differences,
    mean,
    sd,
    interval,
    wins,
    detectable,
    detected: interval[0] > 0 || interval[1] < 0,
  };
}

/* Small numeric summaries shared by every room. */

/** Arithmetic mean of `a`; 0 for an empty array. */
export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length ? s / a.length : 0;
}

/** Sample standard deviation of `a` (divisor n - 1); 0 for fewer than two values. */
export function sampleStd(a: ArrayLike<number>): number {
  if (a.length < 2) return 0;
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return Math.sqrt(s / (a.length - 1));
}

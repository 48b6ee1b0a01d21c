/* Small numeric summaries shared by every room. */

/** Arithmetic mean of `a`; 0 for an empty array. */
export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length ? s / a.length : 0;
}

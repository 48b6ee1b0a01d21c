/**
 * Contingency table of (ground truth, prediction) label pairs over the voxels where the ground truth is
 * not 0 (and not masked out). Pairs are counted in a Map keyed `gt * base + pred`; consecutive voxels with
 * the same pair (the common case along x) cost one comparison, not a Map update.
 */
export interface ContingencyTable {
  /** Voxels counted. */
  n: number;
  /** `gt * base + pred` -> voxel count. */
  pairs: Map<number, number>;
  /** Key base: larger than every prediction id. */
  base: number;
}

/**
 * Count (gt, pred) pairs over `[start, end)` where gt != 0 and `ignore[v]` is not set. Ids must be
 * non-negative integers (see `labelIds`); when gt x pred ids would overflow a safe integer key, both are
 * renumbered first.
 */
export function contingency(
  gt: ArrayLike<number>,
  pred: ArrayLike<number>,
  opts: { start?: number; end?: number; ignore?: Uint8Array } = {},
): ContingencyTable {
  const start = opts.start ?? 0;
  const end = opts.end ?? gt.length;
  const ignore = opts.ignore;
  let maxG = 0;
  let maxP = 0;
  for (let v = start; v < end; v++) {
    if (gt[v]! > maxG) maxG = gt[v]!;
    if (pred[v]! > maxP) maxP = pred[v]!;
  }
  if ((maxG + 1) * (maxP + 1) > Number.MAX_SAFE_INTEGER) {
    const g = renumber(gt, start, end);
    const p = renumber(pred, start, end);
    return contingency(g.ids, p.ids, { ignore: ignore && ignore.subarray(start, end) });
  }
  const base = maxP + 1;
  const pairs = new Map<number, number>();
  let n = 0;
  let lastKey = -1;
  let run = 0;
  for (let v = start; v < end; v++) {
    const g = gt[v]!;
    if (g === 0 || (ignore !== undefined && ignore[v] !== 0)) continue;
    const key = g * base + pred[v]!;
    n++;
    if (key === lastKey) {
      run++;
      continue;
    }
    if (run > 0) pairs.set(lastKey, (pairs.get(lastKey) ?? 0) + run);
    lastKey = key;
    run = 1;
  }
  if (run > 0) pairs.set(lastKey, (pairs.get(lastKey) ?? 0) + run);
  return { n, pairs, base };
}

/** Ids of `[start, end)` renumbered 1.. (0 stays 0), as a Float64Array of length end - start. */
function renumber(a: ArrayLike<number>, start: number, end: number): { ids: Float64Array } {
  const ids = new Float64Array(end - start);
  const table = new Map<number, number>();
  for (let v = start; v < end; v++) {
    const x = a[v]!;
    if (x === 0) continue;
    let k = table.get(x);
    if (k === undefined) table.set(x, (k = table.size + 1));
    ids[v - start] = k;
  }
  return { ids };
}

/** Marginal sizes of a table: gt id -> count, pred id -> count (pred 0 included). */
export function marginals(t: ContingencyTable): { gt: Map<number, number>; pred: Map<number, number> } {
  const gt = new Map<number, number>();
  const pred = new Map<number, number>();
  for (const [key, c] of t.pairs) {
    const p = key % t.base;
    const g = (key - p) / t.base;
    gt.set(g, (gt.get(g) ?? 0) + c);
    pred.set(p, (pred.get(p) ?? 0) + c);
  }
  return { gt, pred };
}

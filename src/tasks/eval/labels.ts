import { InputError } from '../../core/errors.js';

/** Label arrays the scores accept (ids as stored; 64-bit ids as bigint arrays). */
export type LabelArray =
  Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array | BigUint64Array | BigInt64Array;

/**
 * Label ids as numbers. Number arrays pass through. A bigint array is read as a Float64Array when every
 * id is below 2^53 (checked on the high 32-bit words, no bigint arithmetic per voxel); otherwise its
 * distinct ids are renumbered 1.. in order of appearance (0 stays 0), which leaves every score unchanged.
 */
export function labelIds(labels: LabelArray, what = 'labels'): ArrayLike<number> {
  if (!(labels instanceof BigUint64Array || labels instanceof BigInt64Array)) {
    if (labels instanceof Float64Array || labels instanceof Int32Array)
      for (let i = 0; i < labels.length; i++)
        if (!(labels[i]! >= 0) || !Number.isInteger(labels[i]!))
          throw new InputError(`${what}: label ids must be non-negative integers, got ${labels[i]} at ${i}`);
    return labels;
  }
  const n = labels.length;
  // Little-endian words: [lo, hi] per id (Node runs on little-endian hosts).
  const words = new Uint32Array(labels.buffer, labels.byteOffset, 2 * n);
  let fits = true;
  for (let i = 0; i < n; i++)
    if (words[2 * i + 1]! >= 0x200000) {
      fits = false;
      break;
    }
  const out = new Float64Array(n);
  if (fits) {
    for (let i = 0; i < n; i++) out[i] = words[2 * i]! + words[2 * i + 1]! * 0x100000000;
    return out;
  }
  const table = new Map<bigint, number>();
  const u =
    labels instanceof BigUint64Array ? labels : new BigUint64Array(labels.buffer, labels.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const id = u[i]!;
    if (id === 0n) continue;
    let k = table.get(id);
    if (k === undefined) table.set(id, (k = table.size + 1));
    out[i] = k;
  }
  return out;
}

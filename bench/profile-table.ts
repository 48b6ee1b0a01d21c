/*
 * Tables of the profile scripts (profile-mim.ts, profile-finetune.ts): kernel time summed per key and
 * printed largest first, per step; and their command-line values.
 */

/** Time and calls summed under one key. */
export interface ProfileRow {
  ms: number;
  calls: number;
}

/** Add one kernel call of `ms` under `key`. */
export function addRow(map: Map<string, ProfileRow>, key: string, ms: number): void {
  const r = map.get(key) ?? { ms: 0, calls: 0 };
  r.ms += ms;
  r.calls++;
  map.set(key, r);
}

/** Print the `top` largest rows as ms and calls per step. */
export function printRows(title: string, map: Map<string, ProfileRow>, steps: number, top: number): void {
  const rows = [...map.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top);
  console.log(`\n${title} (ms per step, calls per step)`);
  for (const [k, r] of rows)
    console.log(`${(r.ms / steps).toFixed(2).padStart(8)}  ${String(r.calls / steps).padStart(5)}  ${k}`);
}

/** The value after `--name` on the command line, or undefined. */
export function argOf(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

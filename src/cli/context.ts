import { selectBackend, parseBackend, type BackendInfo } from '../core/backend.js';

/** Options every command accepts (set on the root program). */
export interface GlobalOptions {
  backend?: string;
  verbose?: boolean;
  quiet?: boolean;
}

/** Select the backend from `--backend` (else DBMIM_BACKEND, else auto) and print it to stderr. */
export async function useBackend(opts: GlobalOptions, print = true): Promise<BackendInfo> {
  const info = await selectBackend(parseBackend(opts.backend, '--backend'));
  if (print && !opts.quiet) console.error(`backend: ${info.name} (${info.package})`);
  return info;
}

/** Parse "a,b,c" into numbers, naming the option on error. */
export function parseNumberList(value: string, option: string, count?: number): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (
    parts.some((p) => p === '') ||
    nums.some((n) => !Number.isFinite(n)) ||
    (count !== undefined && nums.length !== count)
  )
    throw new Error(`${option}: expected ${count ?? 'a list of'} comma-separated numbers, got '${value}'`);
  return nums;
}

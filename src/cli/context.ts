import { selectBackend, parseBackend, type BackendInfo } from '../core/backend.js';
import { ConfigError } from '../core/errors.js';

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
    throw new ConfigError(
      `${option}: expected ${count ?? 'a list of'} comma-separated numbers, got '${value}'`,
    );
  return nums;
}

/** A number option in [lo, hi] (integer when `int`), naming the option on error. */
export function parseNumber(value: string, option: string, lo: number, hi: number, int = false): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v)))
    throw new ConfigError(
      `${option}: expected ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got '${value}'`,
    );
  return v;
}

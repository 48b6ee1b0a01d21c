import { main } from '../src/cli/main.js';

/**
 * Run the CLI in-process capturing stdout / stderr lines (console and commander's direct stdout writes);
 * resets process.exitCode so the test run is unaffected.
 */
export async function runCli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stdout.write.bind(process.stdout);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'dbmim', ...args]);
    return { code, out, err };
  } finally {
    console.log = log;
    console.error = error;
    process.stdout.write = write;
    process.exitCode = 0;
  }
}

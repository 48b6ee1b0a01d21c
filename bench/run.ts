/*
 * `npm run bench`: performance figures, one JSON object per line. Never part of the test run.
 * Each room contributes a bench module exporting an async function that returns rows; `--only NAME`
 * runs the modules whose name contains NAME (e.g. `npm run bench -- --only mim`).
 */
import { selectBackend } from '../src/core/backend.js';

interface BenchModule {
  name: string;
  file: string;
  fn: string;
}

const MODULES: BenchModule[] = [
  { name: 'data', file: './data-read.js', fn: 'benchDataRead' },
  { name: 'matmul', file: './matmul-peak.js', fn: 'benchMatmulPeak' },
  { name: 'mim', file: './mim.js', fn: 'benchMim' },
  { name: 'finetune', file: './finetune.js', fn: 'benchFinetune' },
  { name: 'env', file: './env.js', fn: 'benchEnv' },
  { name: 'env-protocol', file: './env-protocol.js', fn: 'benchEnvProtocol' },
  { name: 'ppo', file: './ppo.js', fn: 'benchPpo' },
  { name: 'predict', file: './predict.js', fn: 'benchPredict' },
  { name: 'eval', file: './eval.js', fn: 'benchEval' },
  { name: 'bench_jobs', file: './bench-jobs.js', fn: 'benchJobs' },
  { name: 'scale', file: './scale.js', fn: 'benchScale' },
];

async function main(): Promise<void> {
  const i = process.argv.indexOf('--only');
  const only = i >= 0 ? process.argv[i + 1] : undefined;
  const backend = await selectBackend();
  console.error(
    `backend: ${backend.name}; machine: ${process.platform} ${process.arch}, node ${process.version}`,
  );
  for (const m of MODULES) {
    if (only && !m.name.includes(only)) continue;
    const mod = (await import(m.file)) as Record<string, () => Promise<object[]>>;
    const fn = mod[m.fn];
    if (typeof fn !== 'function') throw new Error(`bench/${m.file} does not export ${m.fn}`);
    for (const row of await fn()) console.log(JSON.stringify({ backend: backend.name, ...row }));
  }
}

await main();

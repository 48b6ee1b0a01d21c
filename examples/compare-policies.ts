/*
 * Compare masking policies end to end (pretrain -> finetune -> predict -> segment -> VOI/ARAND) and write
 * a report, from code instead of the CLI. Defaults to a small synthetic comparison that takes a couple of
 * minutes; pass `isbi` to run the quick preset on the shipped stack (what `npm start` does).
 *
 * Run: node --import tsx examples/compare-policies.ts [synthetic|isbi] [outDir]
 */
import { runBenchmark, selectBackend } from '../src/index.js';

export async function main(
  data: 'synthetic' | 'isbi' = 'synthetic',
  outDir = 'out/compare',
): Promise<string> {
  await selectBackend();
  const { report, results } = await runBenchmark({
    preset: 'quick',
    data: data === 'isbi' ? 'data/isbi2012_train.h5' : null,
    outDir,
    policies: ['random', 'edge', 'mappo'],
    seeds: [1],
    log: (l) => console.log(l),
    ...(data === 'synthetic'
      ? { config: { train: { phase1Steps: 48, phase2Steps: 16 }, finetune: { steps: 150 } } }
      : {}),
  });
  for (const r of results.runs)
    for (const e of r.evaluations)
      console.log(
        `${r.policy.padEnd(8)} ${e.readout.padEnd(8)} ${String(e.labelBudget).padEnd(4)} VOI sum ${e.test.voi_sum.toFixed(3)}  ARAND ${e.test.arand.toFixed(3)}`,
      );
  // paired differences against random / scratch (one seed here: single differences, no interval)
  for (const c of results.comparisons.filter((x) => x.score === 'voi_sum'))
    console.log(`${c.row} - ${c.baseline} (${c.readout}, ${c.labelBudget}): ${c.mean.toFixed(3)}`);
  console.log(`report: ${report}`);
  return report;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  await main((process.argv[2] as 'synthetic' | 'isbi') ?? 'synthetic', process.argv[3] ?? 'out/compare');
}

import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { DEFAULT_LABELS_KEY, parseDatasetRef } from '../../data/hdf5.js';
import { bestScores, evaluateFiles, SEGMENTATION_GROUP, type ScoredDataset } from '../../tasks/eval/files.js';
import type { GlobalOptions } from '../context.js';

interface EvaluateCliOptions {
  gt: string;
  pred: string;
  borderNm?: string;
  '2d'?: boolean;
}

/** The printed fields: the scores, plus the threshold when the prediction came from a sweep. */
function row(r: ScoredDataset): object {
  const { key: _key, ...rest } = r;
  return rest;
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .description(
      'score a segmentation against ground truth (CREMI conventions, gt 0 ignored): VOI split/merge/sum, ' +
        `adapted Rand error, CREMI score; a --pred file without key scores every ${SEGMENTATION_GROUP}/threshold_T`,
    )
    .requiredOption('--gt <file[:key]>', `ground-truth labels (default key ${DEFAULT_LABELS_KEY})`)
    .requiredOption('--pred <file[:key]>', 'predicted labels, or a file written by `dbmim segment`')
    .option(
      '--border-nm <n>',
      'ignore gt voxels within n nm (in-section) of a label boundary (CREMI uses 25)',
    )
    .option('--2d', 'score every z section on its own and average')
    .action(async (opts: EvaluateCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      let borderNm: number | undefined;
      if (opts.borderNm !== undefined) {
        borderNm = Number(opts.borderNm);
        if (opts.borderNm.trim() === '' || !(borderNm >= 0))
          throw new ConfigError(`--border-nm: expected a number >= 0, got '${opts.borderNm}'`);
      }
      const t0 = performance.now();
      const rows = await evaluateFiles(opts.gt, opts.pred, { borderNm, mode2d: opts['2d'] === true });
      for (const r of rows) console.log(JSON.stringify(row(r)));
      // A bare file holding a threshold sweep: also the best row by each score.
      const sweep = parseDatasetRef(opts.pred, '').key === '' && rows.some((r) => r.threshold !== undefined);
      if (sweep) {
        const best = bestScores(rows);
        console.log(JSON.stringify({ best_voi: row(best.best_voi), best_arand: row(best.best_arand) }));
      }
      if (!g.quiet)
        console.error(
          `evaluate: ${rows.length} dataset(s) in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
        );
    });
}

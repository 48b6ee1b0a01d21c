import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { AFFINITIES_KEY, segmentFile } from '../../tasks/eval/files.js';
import type { SeedMode } from '../../tasks/eval/watershed.js';
import { parseNumberList, type GlobalOptions } from '../context.js';

interface SegmentCliOptions {
  affinities: string;
  out: string;
  thresholds: string;
  '2d'?: boolean;
  minSize: string;
  fragments: string;
  seeds: string;
  seedH?: string;
}

export function register(program: Command): void {
  program
    .command('segment')
    .description(
      'instances from affinities [3, D, H, W]: seeded watershed fragments, then agglomeration by mean ' +
        'boundary affinity swept over thresholds; writes volumes/segmentation/threshold_T (uint32) per threshold',
    )
    .requiredOption('--affinities <file[:key]>', `affinities HDF5 (default key ${AFFINITIES_KEY})`)
    .requiredOption('--out <file>', 'output HDF5 file (written atomically)')
    .option(
      '--thresholds <list>',
      'merge thresholds on the mean boundary affinity (regions merge while >= T; lower = more merging)',
      '0.1,0.3,0.5',
    )
    .option('--2d', 'per-section mode (ISBI): each z section on its own, y/x affinities only')
    .option('--min-size <n>', 'merge segments under n voxels into their strongest neighbour', '0')
    .option('--fragments <mode>', "3D mode: watershed per section ('xy') or in 3D ('3d')", 'xy')
    .option(
      '--seeds <mode>',
      "watershed seeds: 'hminima' (minima of the boundary map with dynamic >= --seed-h; robust to noise), " +
        "'distance' (maxima of the distance transform) or 'threshold' (every low-boundary component)",
      'hminima',
    )
    .option(
      '--seed-h <h>',
      'minimum seed dynamic (hminima: boundary units, default 0.1; distance: voxels, default 2)',
    )
    .action(async (opts: SegmentCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      let thresholds: number[];
      try {
        thresholds = parseNumberList(opts.thresholds, '--thresholds');
      } catch (e) {
        throw new ConfigError((e as Error).message);
      }
      const minSize = Number(opts.minSize);
      if (!Number.isInteger(minSize) || minSize < 0)
        throw new ConfigError(`--min-size: expected an integer >= 0, got '${opts.minSize}'`);
      if (opts.fragments !== 'xy' && opts.fragments !== '3d')
        throw new ConfigError(`--fragments: expected 'xy' or '3d', got '${opts.fragments}'`);
      if (!['hminima', 'distance', 'threshold'].includes(opts.seeds))
        throw new ConfigError(`--seeds: expected 'hminima', 'distance' or 'threshold', got '${opts.seeds}'`);
      const seedH = opts.seedH === undefined ? undefined : Number(opts.seedH);
      if (seedH !== undefined && !(seedH >= 0))
        throw new ConfigError(`--seed-h: expected a number >= 0, got '${opts.seedH}'`);
      const r = await segmentFile(opts.affinities, opts.out, {
        seeds: opts.seeds as SeedMode,
        ...(seedH !== undefined ? { seedH } : {}),
        thresholds,
        mode2d: opts['2d'] === true,
        minSize,
        fragments: opts.fragments,
      });
      if (!g.quiet)
        console.error(
          `segment [${r.shape.join(', ')}]: read ${r.readSeconds.toFixed(2)} s, segment ${r.segmentSeconds.toFixed(2)} s, ` +
            `write ${r.writeSeconds.toFixed(2)} s`,
        );
      console.log(
        JSON.stringify({
          out: r.out,
          shape: r.shape,
          datasets: r.keys.map((key, i) => ({ key, threshold: thresholds[i], segments: r.segments[i] })),
          seconds: { read: r.readSeconds, segment: r.segmentSeconds, write: r.writeSeconds },
        }),
      );
    });
}

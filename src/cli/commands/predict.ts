import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { DEFAULT_RAW_KEY, datasetInfo, parseDatasetRef } from '../../data/hdf5.js';
import { AffinityNet } from '../../models/affinity-net.js';
import { AFFINITIES_KEY, predictAffinitiesToFile } from '../../tasks/segmentation/predict.js';
import { parseNumber, useBackend, type GlobalOptions } from '../context.js';
import { parseZRange } from './finetune.js';

interface PredictCliOptions {
  model: string;
  data: string;
  out: string;
  z?: string;
  raw: string;
  overlap: string;
  batch: string;
  tile: string;
  tta?: boolean;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description(
      `predict affinities [3, D, H, W] of a whole volume with a finetuned affinity network (sliding windows, ` +
        `overlap blending) and write them to HDF5 under ${AFFINITIES_KEY}`,
    )
    .requiredOption('--model <dir>', 'affinity network checkpoint (the model/ directory written by finetune)')
    .requiredOption('--data <file>', 'HDF5 file with raw EM (file.h5 or file.h5:raw/key)')
    .requiredOption('--out <file>', 'output HDF5 file (written atomically)')
    .option('--z <a,b>', 'predict sections [a, b) only')
    .option('--raw <key>', 'raw dataset key', DEFAULT_RAW_KEY)
    .option('--overlap <f>', 'overlap of neighbouring windows per axis, in [0, 0.9]', '0.5')
    .option('--batch <n>', 'windows per forward pass', '4')
    .option('--tta', 'test-time augmentation: average over the 8 in-plane flips/transposes (8x slower)')
    .option('--tile <n>', 'in-plane tile (voxels) of the streaming pass; memory grows with its square', '512')
    .action(async (opts: PredictCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const overlap = parseNumber(opts.overlap, '--overlap', 0, 0.9);
      const batch = parseNumber(opts.batch, '--batch', 1, 1024, true);
      const tile = parseNumber(opts.tile, '--tile', 16, 1 << 16, true);
      const z = opts.z ? parseZRange(opts.z, '--z') : undefined;
      await useBackend(g);
      const { file, key } = parseDatasetRef(opts.data, opts.raw);
      if (z) {
        const shape = (await datasetInfo(file, key)).shape;
        if (shape.length !== 3 || z[1] > shape[0]!)
          throw new ConfigError(`--z: sections [${z}] are outside volume [${shape}] of ${file}:${key}`);
      }
      const net = await AffinityNet.load(opts.model);
      try {
        const t0 = performance.now();
        const quiet = g.quiet === true;
        let lastPct = -1;
        // Streams: raw blocks in, affinity blocks out; memory does not grow with the volume.
        const { shape } = await predictAffinitiesToFile(net, { file, key, ...(z ? { z } : {}) }, opts.out, {
          overlap,
          batch,
          tile,
          testTimeAugment: opts.tta === true,
          onProgress: (done, total) => {
            const pct = Math.floor((100 * done) / total / 10) * 10;
            if (!quiet && pct !== lastPct) {
              lastPct = pct;
              process.stderr.write(`predict ${done}/${total} windows\n`);
            }
          },
        });
        const seconds = (performance.now() - t0) / 1000;
        const voxels = shape[0] * shape[1] * shape[2];
        console.log(
          JSON.stringify({
            out: opts.out,
            key: AFFINITIES_KEY,
            shape: [3, ...shape],
            seconds: Number(seconds.toFixed(2)),
            voxelsPerSecond: Math.round(voxels / Math.max(seconds, 1e-9)),
          }),
        );
      } finally {
        net.dispose();
      }
    });
}

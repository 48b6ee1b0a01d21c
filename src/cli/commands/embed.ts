import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { DEFAULT_RAW_KEY, parseDatasetRef, writeDatasets } from '../../data/hdf5.js';
import type { Shape3 } from '../../data/types.js';
import { embedRegion, loadEncoder } from '../../tasks/embed.js';
import { parseNumberList, useBackend, type GlobalOptions } from '../context.js';

interface EmbedOptions {
  model: string;
  data: string;
  region: string;
  out: string;
}

/** Dataset of the tokens in the file `dbmim embed` writes. */
export const TOKENS_KEY = 'tokens';

export function register(program: Command): void {
  program
    .command('embed')
    .description(
      `encode one crop (the model's crop size, at --region) with a pretrained encoder and write its final ` +
        `tokens [patches, embedDim] (float32, patches z slowest) to HDF5 under '${TOKENS_KEY}'`,
    )
    .requiredOption('--model <dir>', 'checkpoint or run directory holding encoder weights and a model config')
    .requiredOption(
      '--data <file>',
      'raw volume: file.h5[:key] or store.zarr[:key] (default key volumes/raw)',
    )
    .requiredOption('--region <z0,y0,x0>', 'crop start (z, y, x) in voxels')
    .requiredOption('--out <file>', 'output HDF5 file (written atomically)')
    .action(async (opts: EmbedOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      let offset: Shape3;
      try {
        offset = parseNumberList(opts.region, '--region', 3) as Shape3;
      } catch (e) {
        throw new ConfigError((e as Error).message);
      }
      if (!offset.every((v) => Number.isInteger(v) && v >= 0))
        throw new ConfigError(`--region: expected non-negative integers z0,y0,x0, got '${opts.region}'`);
      await useBackend(g);
      const { file, key } = parseDatasetRef(opts.data, DEFAULT_RAW_KEY);
      const enc = loadEncoder(opts.model);
      try {
        const { tokens, shape } = await embedRegion(enc, file, key, offset);
        await writeDatasets(
          opts.out,
          [
            {
              key: TOKENS_KEY,
              data: tokens,
              shape,
              attrs: { offset, crop: [...enc.config.crop], patch: [...enc.config.patch] },
            },
          ],
          { compression: false },
        );
        let sum = 0;
        let absSum = 0;
        for (const v of tokens) {
          sum += v;
          absSum += Math.abs(v);
        }
        console.log(JSON.stringify({ out: opts.out, key: TOKENS_KEY, shape, sum, absSum }));
      } finally {
        enc.dispose();
      }
    });
}

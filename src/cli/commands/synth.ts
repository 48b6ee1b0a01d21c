import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { writeCremi } from '../../data/hdf5.js';
import { generateSynthetic } from '../../data/synthetic.js';
import type { Shape3 } from '../../data/types.js';
import { parseNumber, parseNumberList } from '../context.js';

interface SynthOptions {
  out: string;
  shape: string;
  seed: string;
  resolution: string;
  labelsDtype: string;
  cellSize: string;
  misalign: string;
  compression: string;
}

function triple(value: string, option: string, min: number): Shape3 {
  let v: number[];
  try {
    v = parseNumberList(value, option, 3);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (v.some((x) => !Number.isInteger(x) || x < min))
    throw new ConfigError(`${option}: expected three integers >= ${min}, got '${value}'`);
  return [v[0]!, v[1]!, v[2]!];
}

export function register(program: Command): void {
  program
    .command('synth')
    .description(
      'generate a synthetic EM volume with exact labels and write it atomically in CREMI layout ' +
        '(volumes/raw uint8, volumes/labels/neuron_ids, volumes/labels/membrane, resolution attributes)',
    )
    .requiredOption('--out <file>', 'output HDF5 file')
    .option('--shape <d,h,w>', 'volume shape (z, y, x)', '32,128,128')
    .option('--seed <n>', 'random seed (same seed, same volume)', '0')
    .option('--resolution <z,y,x>', 'voxel size in nm', '40,4,4')
    .option('--labels-dtype <dtype>', 'uint64 (CREMI) or uint32', 'uint64')
    .option('--cell-size <px>', 'about one object per cell-size^2 px^2 of a section', '24')
    .option('--misalign <p>', 'probability per section of an xy shift (0 = aligned)', '0')
    .option('--compression <level>', 'gzip level 0-9', '4')
    .action(async (opts: SynthOptions) => {
      const shape = triple(opts.shape, '--shape', 1);
      const resolution = triple(opts.resolution, '--resolution', 1);
      const seed = parseNumber(opts.seed, '--seed', 0, 2 ** 32 - 1, true);
      if (opts.labelsDtype !== 'uint64' && opts.labelsDtype !== 'uint32')
        throw new ConfigError(`--labels-dtype: expected uint64 or uint32, got '${opts.labelsDtype}'`);
      const cellSize = parseNumber(opts.cellSize, '--cell-size', 4, 1e6);
      const misalignProb = parseNumber(opts.misalign, '--misalign', 0, 1);
      const compression = parseNumber(opts.compression, '--compression', 0, 9, true);
      const { raw, labels } = generateSynthetic({ shape, seed, resolution, cellSize, misalignProb });
      const membrane = Uint8Array.from(labels.data, (v) => (v === 0 ? 1 : 0));
      await writeCremi(opts.out, {
        raw,
        labels,
        resolution,
        labelsDtype: opts.labelsDtype,
        compression,
        extra: [{ key: 'volumes/labels/membrane', data: membrane, shape: [...shape], dtype: 'uint8' }],
      });
      const ids = new Set(labels.data);
      ids.delete(0);
      let mem = 0;
      for (let i = 0; i < membrane.length; i++) mem += membrane[i]!;
      console.log(
        `wrote ${opts.out}: shape ${JSON.stringify(shape)}, seed ${seed}, ${ids.size} objects, ` +
          `${((100 * mem) / membrane.length).toFixed(1)}% membrane, resolution ${JSON.stringify(resolution)} nm`,
      );
    });
}

import type { Command } from 'commander';
import {
  DEFAULT_LABELS_KEY,
  DEFAULT_RAW_KEY,
  DEFAULT_RESOLUTION,
  inspectFile,
  parseDatasetRef,
  readLabels,
  readRaw,
} from '../../data/hdf5.js';
import type { DatasetInfo } from '../../data/dataset.js';

/** Raw dtypes the readers accept. */
const RAW_DTYPES = ['uint8', 'uint16', 'float32', 'float64'];
const LABEL_DTYPES = ['uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64'];

const fmt = (a: readonly number[]) => `[${a.join(',')}]`;

/** Print one result line of `data check`. */
class Report {
  problems = 0;
  ok(msg: string): void {
    console.log(`ok ${msg}`);
  }
  warn(msg: string): void {
    console.error(`warn ${msg}`);
  }
  fail(msg: string): void {
    this.problems++;
    console.error(`fail ${msg}`);
  }
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/**
 * Validate a file for a long run: it opens; raw exists, is 3D, has a supported dtype and finite values;
 * labels are integers of raw's shape; the resolution is present (else defaulted with a warning).
 */
async function checkFile(
  ref: string,
  rawKeyOpt: string | undefined,
  labelsKeyOpt: string | undefined,
): Promise<number> {
  const { file, key } = parseDatasetRef(ref, DEFAULT_RAW_KEY);
  const rawKey = rawKeyOpt ?? key;
  const rep = new Report();
  let datasets: DatasetInfo[];
  try {
    datasets = (await inspectFile(file)).datasets;
  } catch (e) {
    rep.fail(oneLine(e));
    return rep.problems;
  }
  rep.ok(`${file} opens as HDF5 (${datasets.length} datasets)`);
  const find = (k: string) => datasets.find((d) => d.path === k.replace(/^\/+/, ''));

  const raw = find(rawKey);
  let rawShape: number[] | null = null;
  if (!raw)
    rep.fail(
      `raw dataset '${rawKey}' not found; datasets: ${datasets.map((d) => d.path).join(', ') || '(none)'}`,
    );
  else if (raw.shape.length !== 3)
    rep.fail(`raw ${rawKey} has shape ${fmt(raw.shape)}; expected a 3D volume (z, y, x)`);
  else if (!RAW_DTYPES.includes(raw.dtype))
    rep.fail(`raw ${rawKey} has dtype ${raw.dtype}; supported: ${RAW_DTYPES.join(', ')}`);
  else {
    rawShape = raw.shape;
    try {
      const v = await readRaw(file, rawKey);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < v.data.length; i++) {
        const x = v.data[i]!;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      rep.ok(
        `raw ${rawKey} ${fmt(raw.shape)} ${raw.dtype}, finite, range [${lo.toFixed(3)}, ${hi.toFixed(3)}] after scaling`,
      );
      if (hi === lo) rep.warn(`raw ${rawKey} is constant (${lo})`);
    } catch (e) {
      rep.fail(oneLine(e));
    }
    if (raw.resolution && raw.resolution.length === 3)
      rep.ok(`resolution ${fmt(raw.resolution)} nm (z, y, x)`);
    else
      rep.warn(
        `no 'resolution' attribute on ${rawKey} or its groups; using the default ${fmt(DEFAULT_RESOLUTION)} nm`,
      );
  }

  const labelsKey = labelsKeyOpt ?? DEFAULT_LABELS_KEY;
  const labels = find(labelsKey);
  if (!labels) {
    if (labelsKeyOpt !== undefined)
      rep.fail(
        `labels dataset '${labelsKey}' not found; datasets: ${datasets.map((d) => d.path).join(', ')}`,
      );
    else rep.warn(`no labels at ${labelsKey} (fine for pretraining; segmentation needs labels)`);
  } else if (labels.shape.length !== 3)
    rep.fail(`labels ${labelsKey} have shape ${fmt(labels.shape)}; expected a 3D volume (z, y, x)`);
  else if (!LABEL_DTYPES.includes(labels.dtype))
    rep.fail(
      `labels ${labelsKey} have dtype ${labels.dtype}; labels must be integers (${LABEL_DTYPES.join(', ')})`,
    );
  else if (rawShape && labels.shape.some((s, i) => s !== rawShape![i]))
    rep.fail(`labels ${labelsKey} have shape ${fmt(labels.shape)}, raw ${rawKey} has shape ${fmt(rawShape)}`);
  else {
    try {
      const l = await readLabels(file, labelsKey);
      const ids = new Set<number>();
      let zeros = 0;
      for (let i = 0; i < l.data.length; i++) {
        const v = l.data[i]!;
        if (v === 0) zeros++;
        else ids.add(v);
      }
      rep.ok(
        `labels ${labelsKey} ${fmt(labels.shape)} ${labels.dtype}, ${ids.size} ids, ${((100 * zeros) / l.data.length).toFixed(1)}% background (0)`,
      );
    } catch (e) {
      rep.fail(oneLine(e));
    }
  }
  if (rep.problems === 0) rep.ok(`${file} is ready`);
  else console.error(`${rep.problems} problem${rep.problems === 1 ? '' : 's'} in ${file}`);
  return rep.problems;
}

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('inspect and validate HDF5 volumes (CREMI layout: volumes/raw, volumes/labels/neuron_ids)');
  data
    .command('inspect')
    .description(
      'print every dataset of an HDF5 file as JSON {datasets:[{path,shape,dtype,chunks,resolution}]}',
    )
    .argument('<file>', 'HDF5 file')
    .option('--compact', 'one-line JSON')
    .action(async (file: string, opts: { compact?: boolean }) => {
      const info = await inspectFile(parseDatasetRef(file, '').file);
      console.log(JSON.stringify(info, null, opts.compact ? undefined : 2));
    });
  data
    .command('check')
    .description(
      'validate a file before a long run: prints one "ok ..." line per pass, one "fail ..." line per problem, exits 1 on problems',
    )
    .argument('<file>', 'HDF5 file, or file.h5:raw/key')
    .option('--raw <key>', `raw dataset (default ${DEFAULT_RAW_KEY} or the key in FILE)`)
    .option('--labels <key>', `labels dataset (default ${DEFAULT_LABELS_KEY}; checked if present)`)
    .action(async (file: string, opts: { raw?: string; labels?: string }) => {
      const problems = await checkFile(file, opts.raw, opts.labels);
      if (problems > 0) process.exitCode = 1;
    });
  // main.ts sets exitOverride on top-level commands only; subcommands need it too (no process.exit on --help).
  for (const c of data.commands) c.exitOverride();
}

/*
 * Data-room figures: reading one 16x64x64 crop by region (hyperslab: only the chunks it touches are
 * decompressed) vs reading the whole volumes/raw of the shipped ISBI stack; plus synthetic generation and
 * in-memory crop sampling. Rows are JSON objects `{"name": ..., ...}`; run alone with
 * `node --import tsx bench/data-read.ts` or through `npm run bench -- --only data`.
 */
import { pathToFileURL } from 'node:url';
import { Rng } from '../src/core/rng.js';
import { CropSampler } from '../src/data/crop-sampler.js';
import { readLabels, readRaw } from '../src/data/hdf5.js';
import { generateSynthetic } from '../src/data/synthetic.js';

const FILE = 'data/isbi2012_train.h5';
/** Timed repetitions per figure (the median is reported). */
const REPS = 7;

async function time(
  fn: () => unknown | Promise<unknown>,
  reps = REPS,
): Promise<{ median_ms: number; min_ms: number }> {
  await fn(); // warm-up: wasm instantiation, page cache
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { median_ms: r(ts[Math.floor(ts.length / 2)]!), min_ms: r(ts[0]!) };
}

/** Bench rows for bench/run.ts. */
export async function benchDataRead(): Promise<object[]> {
  const rows: object[] = [];
  const rng = Rng.fromSeed(0);
  // Random crop offsets, so the region read is not one lucky chunk.
  const offsets = Array.from(
    { length: 64 },
    () => [rng.int(30 - 16 + 1), rng.int(512 - 64 + 1), rng.int(512 - 64 + 1)] as [number, number, number],
  );
  let k = 0;
  rows.push({
    name: 'hdf5_read',
    what: 'region 16x64x64 of volumes/raw (uint8, chunks 1x256x256 gzip)',
    ...(await time(() => readRaw(FILE, 'volumes/raw', { offset: offsets[k++ % 64]!, size: [16, 64, 64] }))),
  });
  rows.push({
    name: 'hdf5_read',
    what: 'whole volumes/raw 30x512x512 (uint8)',
    ...(await time(() => readRaw(FILE, 'volumes/raw'), 3)),
  });
  rows.push({
    name: 'hdf5_read',
    what: 'whole volumes/labels/neuron_ids 30x512x512 (uint64 -> uint32)',
    ...(await time(() => readLabels(FILE, 'volumes/labels/neuron_ids'), 3)),
  });
  rows.push({
    name: 'synthetic',
    what: 'generateSynthetic 32x128x128',
    ...(await time(() => generateSynthetic({ shape: [32, 128, 128], seed: 1 }), 3)),
  });
  rows.push({
    name: 'synthetic',
    what: 'generateSynthetic 30x512x512',
    ...(await time(() => generateSynthetic({ shape: [30, 512, 512], seed: 1 }), 1)),
  });
  const src = generateSynthetic({ shape: [32, 128, 128], seed: 2 });
  const sampler = new CropSampler(src, { crop: [16, 64, 64], rng: Rng.fromSeed(3), augment: true });
  rows.push({
    name: 'crop_sampler',
    what: 'sample(8) crops 16x64x64 with augmentation, in memory',
    ...(await time(() => sampler.sample(8))),
  });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await benchDataRead()) console.log(JSON.stringify(row));
}

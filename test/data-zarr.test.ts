import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync, deflateSync } from 'node:zlib';
import { InputError } from '../src/core/errors.js';
import {
  datasetInfo,
  inspectFile,
  parseDatasetRef,
  readLabels,
  readRaw,
  writeCremi,
} from '../src/data/hdf5.js';
import { loadCropSource } from '../src/data/crop-sampler.js';
import { runCli } from './cli-harness.js';

/*
 * Zarr v2 and v3 stores written by hand here (metadata JSON + chunk files, per the specs), read through
 * the same calls as HDF5 and compared voxel for voxel with the same volume stored in HDF5.
 */

const dir = mkdtempSync(join(tmpdir(), 'dbmim-zarr-'));
const SHAPE: [number, number, number] = [6, 20, 18];
const CHUNKS: [number, number, number] = [4, 8, 8]; // edge chunks are partial on every axis
const N = SHAPE[0] * SHAPE[1] * SHAPE[2];
const RAW = Uint8Array.from({ length: N }, (_, i) => (i * 37 + (i >> 5)) % 251);
const LABELS = BigUint64Array.from({ length: N }, (_, i) => BigInt(((i >> 3) % 7) * 1000 + 1));
const RES: [number, number, number] = [40, 4, 4];

function put(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** Chunk (cz, cy, cx) of a C-order volume, padded with zeros to the full chunk shape. */
function chunkOf<T extends Uint8Array | BigUint64Array | Float32Array | Int16Array>(
  vol: T,
  shape: number[],
  chunks: number[],
  at: number[],
): Uint8Array {
  const out = new (vol.constructor as new (n: number) => T)(chunks[0]! * chunks[1]! * chunks[2]!);
  for (let z = 0; z < chunks[0]!; z++)
    for (let y = 0; y < chunks[1]!; y++)
      for (let x = 0; x < chunks[2]!; x++) {
        const [gz, gy, gx] = [at[0]! * chunks[0]! + z, at[1]! * chunks[1]! + y, at[2]! * chunks[2]! + x];
        if (gz < shape[0]! && gy < shape[1]! && gx < shape[2]!)
          (out as Uint8Array)[(z * chunks[1]! + y) * chunks[2]! + x] = (vol as Uint8Array)[
            (gz * shape[1]! + gy) * shape[2]! + gx
          ]!;
      }
  return new Uint8Array(out.buffer);
}

function* chunkIds(shape: number[], chunks: number[]): Generator<number[]> {
  const n = shape.map((s, i) => Math.ceil(s / chunks[i]!));
  for (let z = 0; z < n[0]!; z++)
    for (let y = 0; y < n[1]!; y++) for (let x = 0; x < n[2]!; x++) yield [z, y, x];
}

type Vol = Uint8Array | BigUint64Array | Float32Array | Int16Array;
const V2_DTYPE: Record<string, string> = {
  Uint8Array: '|u1',
  BigUint64Array: '<u8',
  Float32Array: '<f4',
  Int16Array: '<i2',
};
const V3_DTYPE: Record<string, string> = {
  Uint8Array: 'uint8',
  BigUint64Array: 'uint64',
  Float32Array: 'float32',
  Int16Array: 'int16',
};

/** A v2 array: `.zarray` (zlib-compressed chunks, '.' separated keys) and `.zattrs`. */
function v2Array(store: string, key: string, vol: Vol, shape: number[], attrs: object = {}): void {
  const d = join(store, key);
  put(
    join(d, '.zarray'),
    JSON.stringify({
      zarr_format: 2,
      shape,
      chunks: CHUNKS,
      dtype: V2_DTYPE[vol.constructor.name],
      compressor: { id: 'zlib', level: 1 },
      fill_value: 0,
      order: 'C',
      filters: null,
    }),
  );
  put(join(d, '.zattrs'), JSON.stringify(attrs));
  for (const c of chunkIds(shape, CHUNKS))
    put(join(d, c.join('.')), deflateSync(chunkOf(vol, shape, CHUNKS, c)));
}

/** A v3 array: `zarr.json` (bytes + gzip codecs, default '/' chunk keys under c/). */
function v3Array(store: string, key: string, vol: Vol, shape: number[], attrs: object = {}): void {
  const d = join(store, key);
  put(
    join(d, 'zarr.json'),
    JSON.stringify({
      zarr_format: 3,
      node_type: 'array',
      shape,
      data_type: V3_DTYPE[vol.constructor.name],
      chunk_grid: { name: 'regular', configuration: { chunk_shape: CHUNKS } },
      chunk_key_encoding: { name: 'default', configuration: { separator: '/' } },
      codecs: [
        { name: 'bytes', configuration: { endian: 'little' } },
        { name: 'gzip', configuration: { level: 1 } },
      ],
      fill_value: 0,
      attributes: attrs,
    }),
  );
  for (const c of chunkIds(shape, CHUNKS))
    put(join(d, 'c', ...c.map(String)), gzipSync(chunkOf(vol, shape, CHUNKS, c)));
}

const V2 = join(dir, 'v2.zarr');
const V3 = join(dir, 'v3.zarr');
const H5 = join(dir, 'same.h5');

test.before(async () => {
  // v2: resolution on the `volumes` group (found by walking up, as in HDF5)
  put(join(V2, '.zgroup'), JSON.stringify({ zarr_format: 2 }));
  put(join(V2, 'volumes', '.zgroup'), JSON.stringify({ zarr_format: 2 }));
  put(join(V2, 'volumes', '.zattrs'), JSON.stringify({ resolution: RES }));
  v2Array(V2, 'volumes/raw', RAW, SHAPE);
  v2Array(V2, 'volumes/labels/neuron_ids', LABELS, SHAPE);
  // v3: resolution on each array
  put(join(V3, 'zarr.json'), JSON.stringify({ zarr_format: 3, node_type: 'group', attributes: {} }));
  v3Array(V3, 'volumes/raw', RAW, SHAPE, { resolution: RES });
  v3Array(V3, 'volumes/labels/neuron_ids', LABELS, SHAPE, { resolution: RES });
  // bad inputs
  const nan = Float32Array.from(RAW, (v) => v / 255);
  nan[(2 * SHAPE[1] + 13) * SHAPE[2] + 5] = NaN; // voxel (2, 13, 5)
  v3Array(V3, 'bad/nan', nan, SHAPE);
  // a 2D array, one chunk
  put(
    join(V3, 'bad/flat/zarr.json'),
    JSON.stringify({
      zarr_format: 3,
      node_type: 'array',
      shape: [20, 18],
      data_type: 'uint8',
      chunk_grid: { name: 'regular', configuration: { chunk_shape: [20, 18] } },
      chunk_key_encoding: { name: 'default', configuration: { separator: '/' } },
      codecs: [{ name: 'bytes', configuration: { endian: 'little' } }],
      fill_value: 0,
      attributes: {},
    }),
  );
  put(join(V3, 'bad/flat/c/0/0'), RAW.slice(0, 20 * 18));
  v2Array(V2, 'bad/int16', new Int16Array(N), SHAPE);
  await writeCremi(H5, {
    raw: { data: RAW, shape: SHAPE, resolution: RES },
    labels: { data: Uint32Array.from(LABELS, Number), shape: SHAPE, resolution: RES },
    resolution: RES,
  });
});

const REGIONS = [
  { offset: [0, 0, 0], size: SHAPE },
  { offset: [1, 5, 3], size: [4, 12, 13] }, // crosses chunk borders on every axis
  { offset: [5, 19, 17], size: [1, 1, 1] },
] as { offset: [number, number, number]; size: [number, number, number] }[];

for (const [name, store] of [
  ['v2', V2],
  ['v3', V3],
] as const) {
  test(`Zarr ${name}: region reads equal the same volume in HDF5 (raw and labels), with resolution`, async () => {
    for (const r of REGIONS) {
      const h = await readRaw(H5, 'volumes/raw', r);
      const z = await readRaw(store, 'volumes/raw', r);
      assert.equal(z.shape, h.shape);
      assert.ok(
        z.data.every((v, i) => v === h.data[i]),
        `raw region ${JSON.stringify(r)}`,
      );
      assert.equal(z.resolution, RES);
      const hl = await readLabels(H5, 'volumes/labels/neuron_ids', r);
      const zl = await readLabels(store, 'volumes/labels/neuron_ids', r);
      assert.ok(
        zl.data.every((v, i) => v === hl.data[i]),
        `labels region ${JSON.stringify(r)}`,
      );
    }
    const info = await datasetInfo(store, 'volumes/raw');
    assert.equal([info.shape, info.dtype, info.chunks, info.resolution], [SHAPE, 'uint8', CHUNKS, RES]);
    const all = (await inspectFile(store)).datasets.map((d) => d.path).sort();
    assert.ok(all.includes('volumes/raw') && all.includes('volumes/labels/neuron_ids'), all.join(','));
  });

  test(`Zarr ${name}: 'store.zarr:key' references work where --data is opened (crop source)`, async () => {
    const { file, key } = parseDatasetRef(`${store}:volumes/raw`, 'x');
    assert.equal([file, key], [store, 'volumes/raw']);
    const src = await loadCropSource(file, key, 'volumes/labels/neuron_ids', [1, 5]);
    const h = await loadCropSource(H5, 'volumes/raw', 'volumes/labels/neuron_ids', [1, 5]);
    assert.equal(src.raw.shape, h.raw.shape);
    assert.ok(src.raw.data.every((v, i) => v === h.raw.data[i]));
    assert.ok(src.labels!.data.every((v, i) => v === h.labels!.data[i]));
  });
}

/** Expect an InputError of one line matching every pattern. */
async function rejects(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, InputError, `expected InputError, got ${String(e)}`);
    const msg = (e as Error).message;
    assert.not.match(msg, /\n/, 'one-line message');
    for (const p of patterns) assert.match(msg, p);
    return;
  }
  assert.unreachable('expected a rejection');
}

test('Zarr bad input: missing store, not a store, missing array, group, rank, dtype, NaN: one clear line each', async () => {
  await rejects(() => readRaw(join(dir, 'nope.zarr')), /Zarr store not found/, /nope\.zarr/);
  const plain = join(dir, 'plain');
  mkdirSync(plain);
  await rejects(() => readRaw(plain), /is a directory but not a Zarr store/);
  await rejects(
    () => readRaw(V3, 'volumes/rawx'),
    /array 'volumes\/rawx' not found/,
    /arrays in the store: .*volumes\/raw/,
  );
  await rejects(() => readRaw(V2, 'volumes'), /'volumes' is a group, not an array/);
  await rejects(() => readRaw(V3, 'bad/flat'), /shape \[20,18\] \(rank 2\); expected a 3D volume/);
  await rejects(
    () => readRaw(V3, 'bad/flat', { offset: [0, 0, 0], size: [1, 1, 1] }),
    /rank 2\); a region read needs a 3D volume/,
  );
  await rejects(() => readRaw(V2, 'bad/int16'), /dtype int16; supported raw dtypes/);
  await rejects(
    () => readRaw(V3, 'bad/nan'),
    /non-finite value \(NaN\) at voxel \(z,y,x\) = \(2,13,5\)/,
    /v3\.zarr:bad\/nan/,
  );
  await rejects(
    () => readRaw(V2, 'volumes/raw', { offset: [4, 0, 0], size: [4, 4, 4] }),
    /crop \[4,4,4\] at \[4,0,0\] is outside volume \[6,20,18\]/,
  );
});

test('dbmim data commands see Zarr through the same path (inspect lists arrays)', async () => {
  const r = await runCli('data', 'inspect', V3);
  assert.is(r.code, 0, r.err.join('\n'));
  assert.match(r.out.join('\n'), /volumes\/raw/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../src/core/errors.js';
import {
  parseDatasetRef,
  readArray,
  readRaw,
  readLabels,
  writeDatasets,
  writeCremi,
  inspectFile,
  datasetInfo,
  type TypedArray,
} from '../src/data/hdf5.js';
import { loadCropSource } from '../src/data/crop-sampler.js';

const dir = mkdtempSync(join(tmpdir(), 'dbmim-data-'));
const ISBI = 'data/isbi2012_train.h5';

/** Expect `fn` to reject with an InputError whose message matches every pattern. */
async function rejects(fn: () => Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, InputError, `expected InputError, got ${String(e)}`);
    const msg = (e as Error).message;
    assert.not.match(msg, /\n/, 'one-line message');
    for (const p of patterns) assert.match(msg, p);
    return msg;
  }
  assert.unreachable('expected an InputError');
  return '';
}

test('parseDatasetRef: file only, file:key, keys with ":" and drive letters', () => {
  assert.equal(parseDatasetRef('a.h5', 'volumes/raw'), { file: 'a.h5', key: 'volumes/raw' });
  assert.equal(parseDatasetRef('dir/a.h5:volumes/labels/membrane', 'x'), {
    file: 'dir/a.h5',
    key: 'volumes/labels/membrane',
  });
  assert.equal(parseDatasetRef('a.h5:grp/odd:name', 'x'), { file: 'a.h5', key: 'grp/odd:name' });
  assert.equal(parseDatasetRef('C:\\data\\a.h5', 'k'), { file: 'C:\\data\\a.h5', key: 'k' });
  assert.equal(parseDatasetRef('C:\\data\\a.hdf:raw', 'k'), { file: 'C:\\data\\a.hdf', key: 'raw' });
  assert.equal(parseDatasetRef('a.h5:', 'k'), { file: 'a.h5', key: 'k' });
  assert.equal(parseDatasetRef('stack.data:raw', 'k'), { file: 'stack.data', key: 'raw' });
});

test('write/read round trip of every supported dtype, with resolution and chunks', async () => {
  const f = join(dir, 'dtypes.h5');
  const shape = [2, 3, 4];
  const n = 24;
  const cases: [string, TypedArray][] = [
    ['uint8', Uint8Array.from({ length: n }, (_, i) => i * 10)],
    ['int8', Int8Array.from({ length: n }, (_, i) => i - 12)],
    ['uint16', Uint16Array.from({ length: n }, (_, i) => i * 2000)],
    ['int16', Int16Array.from({ length: n }, (_, i) => -i * 1000)],
    ['uint32', Uint32Array.from({ length: n }, (_, i) => i * 100000000)],
    ['int32', Int32Array.from({ length: n }, (_, i) => -i * 50000000)],
    ['uint64', BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 2n ** 40n)],
    ['int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i) - 2n ** 50n)],
    ['float32', Float32Array.from({ length: n }, (_, i) => i / 7)],
    ['float64', Float64Array.from({ length: n }, (_, i) => i / 7)],
  ];
  await writeDatasets(
    f,
    cases.map(([dtype, data]) => ({ key: `g/${dtype}`, data, shape })),
    { resolution: [40, 4, 4] },
  );
  for (const [dtype, data] of cases) {
    const a = await readArray(f, `g/${dtype}`);
    assert.is(a.dtype, dtype);
    assert.equal(a.shape, shape);
    assert.equal(Array.from(a.data as ArrayLike<number>), Array.from(data as ArrayLike<number>), dtype);
    assert.equal(a.resolution, [40, 4, 4]);
  }
  const info = await inspectFile(f);
  assert.is(info.datasets.length, cases.length);
  const u8 = info.datasets.find((d) => d.path === 'g/uint8')!;
  assert.equal(u8, { path: 'g/uint8', shape, dtype: 'uint8', chunks: [1, 3, 4], resolution: [40, 4, 4] });
  // dtype conversion on write: uint32 labels stored as uint64
  await writeDatasets(f, [{ key: 'l', data: Uint32Array.of(1, 2, 3), shape: [1, 1, 3], dtype: 'uint64' }]);
  const l = await readArray(f, 'l');
  assert.is(l.dtype, 'uint64');
  assert.equal(Array.from(l.data as BigUint64Array), [1n, 2n, 3n]);
  assert.is(l.resolution, null);
});

test('readRaw scales uint8/uint16, keeps float32; readLabels relabels wide uint64 ids', async () => {
  const f = join(dir, 'scale.h5');
  await writeDatasets(f, [
    { key: 'u8', data: Uint8Array.of(0, 51, 255, 102), shape: [1, 2, 2] },
    { key: 'u16', data: Uint16Array.of(0, 65535, 13107, 0), shape: [1, 2, 2] },
    { key: 'f32', data: Float32Array.of(0.25, 0.5, 0.75, 1), shape: [1, 2, 2] },
    { key: 'ids', data: BigUint64Array.of(0n, 2n ** 40n, 7n, 2n ** 40n, 0n, 2n ** 33n), shape: [1, 2, 3] },
    { key: 'small', data: BigUint64Array.of(0n, 5n, 4294967295n), shape: [1, 1, 3] },
    { key: 'i32', data: Int32Array.of(3, 0, 9), shape: [1, 1, 3] },
  ]);
  const u8 = await readRaw(f, 'u8');
  assert.equal(Array.from(u8.data), [0, 0.2, 1, 0.4].map(Math.fround));
  assert.equal(u8.shape, [1, 2, 2]);
  assert.equal(u8.resolution, [40, 4, 4]); // default when the file has none
  assert.equal(Array.from((await readRaw(f, 'u16')).data), [0, 1, 0.2, 0].map(Math.fround));
  assert.equal(Array.from((await readRaw(f, 'f32')).data), [0.25, 0.5, 0.75, 1]);
  // ids 7 < 2^33 < 2^40 -> 1, 2, 3 in ascending order; 0 stays 0
  assert.equal(Array.from((await readLabels(f, 'ids')).data), [0, 3, 1, 3, 0, 2]);
  // ids that fit 32 bits are kept as they are
  assert.equal(Array.from((await readLabels(f, 'small')).data), [0, 5, 4294967295]);
  assert.equal(Array.from((await readLabels(f, 'i32')).data), [3, 0, 9]);
});

test('region reads equal the corresponding slice of a whole read (written file and the ISBI stack)', async () => {
  const f = join(dir, 'region.h5');
  const shape: [number, number, number] = [5, 6, 7];
  const data = Uint16Array.from({ length: 5 * 6 * 7 }, (_, i) => (i * 37) % 1000);
  await writeDatasets(f, [{ key: 'v', data, shape }], { chunks: [2, 4, 4] });
  const region = {
    offset: [1, 2, 3] as [number, number, number],
    size: [3, 4, 2] as [number, number, number],
  };
  const part = await readArray(f, 'v', region);
  assert.equal(part.shape, [3, 4, 2]);
  const want: number[] = [];
  for (let z = 1; z < 4; z++)
    for (let y = 2; y < 6; y++) for (let x = 3; x < 5; x++) want.push(data[(z * 6 + y) * 7 + x]!);
  assert.equal(Array.from(part.data as Uint16Array), want);

  const whole = await readRaw(ISBI, 'volumes/raw');
  assert.equal(whole.shape, [30, 512, 512]);
  assert.equal(whole.resolution, [50, 4, 4]);
  const crop = await readRaw(ISBI, 'volumes/raw', { offset: [20, 100, 300], size: [2, 3, 4] });
  for (let z = 0; z < 2; z++)
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 4; x++)
        assert.is(crop.data[(z * 3 + y) * 4 + x], whole.data[((20 + z) * 512 + 100 + y) * 512 + 300 + x]);
  const lab = await readLabels(ISBI, 'volumes/labels/neuron_ids_2d', {
    offset: [0, 0, 0],
    size: [1, 8, 8],
  });
  assert.is(lab.data.length, 64);
  const mem = await readArray(ISBI, 'volumes/labels/membrane', { offset: [0, 0, 0], size: [1, 8, 8] });
  // neuron ids are 0 exactly on membrane
  for (let i = 0; i < 64; i++) assert.is(lab.data[i] === 0, (mem.data as Uint8Array)[i] === 1);
});

test('ISBI stack: inspect lists the four datasets with chunks and resolution', async () => {
  const info = await inspectFile(ISBI);
  const paths = info.datasets.map((d) => d.path).sort();
  assert.equal(paths, [
    'volumes/labels/membrane',
    'volumes/labels/neuron_ids',
    'volumes/labels/neuron_ids_2d',
    'volumes/raw',
  ]);
  for (const d of info.datasets) {
    assert.equal(d.shape, [30, 512, 512]);
    assert.equal(d.chunks, [1, 256, 256]);
    assert.equal(d.resolution, [50, 4, 4]);
  }
  assert.is(info.datasets.find((d) => d.path === 'volumes/raw')!.dtype, 'uint8');
  assert.is((await datasetInfo(ISBI, '/volumes/labels/neuron_ids')).dtype, 'uint64');
});

test('errors: missing file, not HDF5, empty, truncated, missing key, group as dataset', async () => {
  await rejects(() => readRaw(join(dir, 'nope.h5')), /file not found/, /nope\.h5/);
  const txt = join(dir, 'text.h5');
  writeFileSync(txt, 'this is not an HDF5 file at all, just text');
  await rejects(() => readRaw(txt), /not an HDF5 file/, /text\.h5/);
  const empty = join(dir, 'empty.h5');
  writeFileSync(empty, '');
  await rejects(() => inspectFile(empty), /not an HDF5 file/);
  await rejects(() => readRaw(dir), /is a directory/);
  const good = join(dir, 'good.h5');
  await writeCremi(good, {
    raw: { data: new Uint8Array(4 * 32 * 32).fill(7), shape: [4, 32, 32], resolution: [40, 4, 4] },
    resolution: [40, 4, 4],
    compression: false,
  });
  const bytes = readFileSync(good);
  const cut = join(dir, 'truncated.h5');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await rejects(() => readRaw(cut), /truncated/, /truncated\.h5/);
  const msg = await rejects(() => readRaw(good, 'volumes/rawx'), /volumes\/rawx/, /not found/, /good\.h5/);
  assert.match(msg, /volumes\/raw\b/); // lists what exists
  await rejects(() => readRaw(good, 'volumes'), /is a group/);
});

test('errors: 2D dataset, float labels, NaN in raw, unsupported raw dtype, negative labels', async () => {
  const f = join(dir, 'bad.h5');
  const nan = new Float32Array(2 * 3 * 4).fill(0.5);
  nan[(1 * 3 + 2) * 4 + 1] = NaN;
  await writeDatasets(f, [
    { key: 'flat', data: new Uint8Array(12), shape: [3, 4] },
    { key: 'flabels', data: new Float32Array(8), shape: [2, 2, 2] },
    { key: 'nan', data: nan, shape: [2, 3, 4] },
    { key: 'i32', data: new Int32Array(8), shape: [2, 2, 2] },
    { key: 'neg', data: Int32Array.of(1, 2, -3, 4), shape: [1, 2, 2] },
  ]);
  await rejects(() => readRaw(f, 'flat'), /flat/, /\[3,4\]/, /3D/);
  await rejects(() => readLabels(f, 'flabels'), /flabels/, /float32/, /integers/);
  await rejects(() => readRaw(f, 'nan'), /nan/, /non-finite/, /\(1,2,1\)/);
  // the voxel is named in file coordinates for a region read as well
  await rejects(() => readRaw(f, 'nan', { offset: [1, 1, 0], size: [1, 2, 4] }), /\(1,2,1\)/);
  await rejects(() => readRaw(f, 'i32'), /int32/, /supported raw dtypes/);
  await rejects(() => readLabels(f, 'neg'), /negative id \(-3\)/, /\(0,1,0\)/);
});

test('errors: region outside or larger than the volume; labels/raw shape mismatch', async () => {
  await rejects(
    () => readRaw(ISBI, 'volumes/raw', { offset: [20, 0, 0], size: [16, 64, 64] }),
    /crop \[16,64,64\] at \[20,0,0\] is outside volume \[30,512,512\]/,
    /isbi2012_train\.h5:volumes\/raw/,
  );
  await rejects(
    () => readRaw(ISBI, 'volumes/raw', { offset: [0, 0, 0], size: [32, 64, 64] }),
    /larger than volume \[30,512,512\]/,
  );
  const f = join(dir, 'mismatch.h5');
  await writeDatasets(f, [
    { key: 'volumes/raw', data: new Uint8Array(2 * 4 * 4), shape: [2, 4, 4] },
    { key: 'volumes/labels/neuron_ids', data: new Uint32Array(2 * 4 * 5), shape: [2, 4, 5] },
  ]);
  await rejects(
    () => loadCropSource(f, 'volumes/raw', 'volumes/labels/neuron_ids'),
    /\[2,4,5\]/,
    /\[2,4,4\]/,
  );
  await rejects(
    () => loadCropSource(f, 'volumes/raw', 'volumes/labels/neuron_ids', [0, 1]),
    /shape/,
    /\[2,4,5\]/,
  );
  await rejects(() => loadCropSource(f, 'volumes/raw', null, [1, 3]), /sections \[1,3\)/);
});

test('loadCropSource reads only the z range', async () => {
  const s = await loadCropSource(ISBI, 'volumes/raw', 'volumes/labels/neuron_ids', [10, 12]);
  assert.equal(s.raw.shape, [2, 512, 512]);
  assert.equal(s.labels!.shape, [2, 512, 512]);
  const ref = await readRaw(ISBI, 'volumes/raw', { offset: [10, 0, 0], size: [1, 1, 8] });
  assert.equal(Array.from(s.raw.data.subarray(0, 8)), Array.from(ref.data));
});

test('writeDatasets is atomic: a failing write leaves neither the target nor a temp file', async () => {
  const sub = mkdtempSync(join(dir, 'atomic-'));
  const target = join(sub, 'out.h5');
  try {
    await writeDatasets(target, [
      { key: 'ok', data: new Uint8Array(4), shape: [1, 2, 2] },
      { key: 'bad', data: new Uint8Array(4), shape: [1, 2, 3] },
    ]);
    assert.unreachable('should fail');
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /needs 6 values, got 4/);
  }
  // a failure inside h5wasm (duplicate key) also cleans up
  await rejects(() =>
    writeDatasets(target, [
      { key: 'a', data: new Uint8Array(4), shape: [1, 2, 2] },
      { key: 'a/b', data: new Uint8Array(4), shape: [1, 2, 2] },
    ]),
  );
  assert.equal(readdirSync(sub), []);
  await writeDatasets(target, [{ key: 'x', data: new Uint8Array(4), shape: [1, 2, 2] }]);
  assert.equal(readdirSync(sub), ['out.h5']);
  assert.ok(existsSync(target));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

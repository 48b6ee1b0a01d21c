import { existsSync, statSync, openSync, readSync, closeSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Dataset as H5Dataset, File as H5File, Group as H5Group } from 'h5wasm/node';
import { InputError } from '../core/errors.js';
import { tempPathFor } from '../core/fs.js';
import type { ArrayData, DatasetInfo, NumericArray, Region } from './dataset.js';
import type { LabelVolume, RawVolume, Shape3, Volume } from './types.js';
import { inspectZarr, isZarrPath, readZarrArray, zarrArrayInfo } from './zarr.js';

/*
 * HDF5 volumes through h5wasm (the HDF5 C library compiled to wasm; `h5wasm/node` reads real paths
 * through Emscripten's NODERAWFS, relative paths resolve against the process cwd).
 * CREMI layout: `volumes/raw`, `volumes/labels/neuron_ids`, a `resolution` attribute (z, y, x in nm) on
 * each volume dataset. Every failure is an InputError of one line naming the file, the key and the shape.
 * readArray, datasetInfo and inspectFile are the one way volumes are opened: a Zarr store (a directory or
 * a `*.zarr` path) is handed to zarr.ts there, so every command that takes `--data` reads Zarr too.
 */

/** Voxel size used when a file has no `resolution` attribute (CREMI's z, y, x in nm). */
export const DEFAULT_RESOLUTION: Shape3 = [40, 4, 4];
/** Default dataset keys (CREMI layout). */
export const DEFAULT_RAW_KEY = 'volumes/raw';
/** Default neuron-label dataset key (CREMI layout). */
export const DEFAULT_LABELS_KEY = 'volumes/labels/neuron_ids';

/** The 8-byte HDF5 signature; it sits at offset 0, 512, 1024, 2048, ... (a user block may precede it). */
const HDF5_SIGNATURE = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** h5wasm short dtype codes (`<B` etc.) to names. */
const CODE_TO_NAME: Record<string, string> = {
  b: 'int8',
  B: 'uint8',
  h: 'int16',
  H: 'uint16',
  i: 'int32',
  I: 'uint32',
  l: 'int32',
  L: 'uint32',
  q: 'int64',
  Q: 'uint64',
  f: 'float32',
  d: 'float64',
  e: 'float16',
};

const NAME_TO_CODE: Record<string, string> = {
  int8: '<b',
  uint8: '<B',
  int16: '<h',
  uint16: '<H',
  int32: '<i',
  uint32: '<I',
  int64: '<q',
  uint64: '<Q',
  float32: '<f',
  float64: '<d',
};

let readyPromise: Promise<void> | null = null;
/** h5wasm's classes, set by {@link ready}: every use of them follows an `await ready()`. */
let H5: typeof import('h5wasm/node') = null as never;

/**
 * Load the wasm module once and make HDF5 errors throw (instead of printing a diagnostic stack). Imported
 * here, not at the top: a process that reads no HDF5 file (a benchmark worker on synthetic data) skips its
 * load, which takes seconds under a TypeScript loader (tsx transforms its 4 MB module on every start).
 */
async function ready(): Promise<void> {
  readyPromise ??= import('h5wasm/node').then(async (mod) => {
    H5 = mod;
    const m = await mod.default.ready;
    m.activate_throwing_error_handler();
  });
  return readyPromise;
}

/** A compact one-line reason from an HDF5 diagnostic stack. */
function hdf5Reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const lines = msg.split('\n');
  // The deepest frame ("#00k: ... in fn(): reason") carries the most specific reason.
  let reason = '';
  for (const l of lines) {
    const m = /#\d+: .* in [\w.]+\(\): (.*)$/.exec(l);
    if (m) reason = m[1]!.trim();
  }
  return reason || lines[0]!.trim();
}

function dtypeName(meta: { type: number; size: number; signed: boolean }, code: string): string {
  // type 0 = integer, 1 = float (H5T_class_t).
  if (meta.type === 0) return `${meta.signed ? 'int' : 'uint'}${meta.size * 8}`;
  if (meta.type === 1) return `float${meta.size * 8}`;
  const c = code.replace(/^[<>=|!]/, '');
  return CODE_TO_NAME[c] ?? `unsupported(${code})`;
}

function fmt(a: readonly number[]): string {
  return `[${a.join(',')}]`;
}

/**
 * Split `file.h5:key` into file and key (`file.h5` alone takes `defaultKey`). The split is at the first
 * ':' after the file's extension-bearing name, so Windows drives (`C:\x.h5`) and keys with ':' work.
 */
export function parseDatasetRef(ref: string, defaultKey: string): { file: string; key: string } {
  // Prefer a split right after a known HDF5 extension (keys may contain ':').
  const ext = /\.(h5|hdf5|hdf|he5|n5|cremi|zarr)(?=:)/i.exec(ref);
  if (ext) {
    const cut = ext.index + ext[0].length;
    const key = ref.slice(cut + 1);
    return { file: ref.slice(0, cut), key: key === '' ? defaultKey : key };
  }
  // Otherwise the last ':' that is not a drive letter and is not followed by a path separator.
  const at = ref.search(/(?<!^[A-Za-z]):(?![\\/])/);
  if (at > 0) {
    const key = ref.slice(at + 1);
    return { file: ref.slice(0, at), key: key === '' ? defaultKey : key };
  }
  return { file: ref, key: defaultKey };
}

/** Fail early (before h5wasm) on a missing file, a directory, or a file without the HDF5 signature. */
function checkHdf5File(file: string): void {
  if (!existsSync(file)) throw new InputError(`file not found: ${file}`, 'missing-file');
  const st = statSync(file);
  if (st.isDirectory()) throw new InputError(`${file} is a directory, expected an HDF5 file`, 'not-hdf5');
  const fd = openSync(file, 'r');
  try {
    const buf = new Uint8Array(8);
    for (let off = 0; off + 8 <= st.size; off = off === 0 ? 512 : off * 2) {
      const n = readSync(fd, buf, 0, 8, off);
      if (n === 8 && buf.every((b, i) => b === HDF5_SIGNATURE[i])) return;
    }
  } finally {
    closeSync(fd);
  }
  throw new InputError(
    `${file} is not an HDF5 file (no HDF5 signature; ${st.size} bytes)`,
    st.size === 0 ? 'empty-file' : 'not-hdf5',
  );
}

/** Open a file read-only, run `fn`, always close. */
async function withFile<T>(file: string, fn: (f: H5File) => T): Promise<T> {
  await ready();
  checkHdf5File(file);
  let f: H5File;
  try {
    f = new H5.File(file, 'r');
  } catch (e) {
    const reason = hdf5Reason(e);
    const truncated = /truncated/i.test(reason);
    throw new InputError(
      `cannot open ${file} as HDF5${truncated ? ' (the file is truncated)' : ' (corrupt file?)'}: ${reason}`,
      truncated ? 'truncated' : 'not-hdf5',
    );
  }
  try {
    return fn(f);
  } finally {
    try {
      f.close();
    } catch {
      // Closing a file whose read failed can fail again; the read error is the one to report.
    }
  }
}

/** Paths (no leading '/') of every dataset in a file, walking all groups. */
function listDatasets(g: H5Group, prefix = ''): { path: string; ds: H5Dataset }[] {
  const out: { path: string; ds: H5Dataset }[] = [];
  for (const k of g.keys()) {
    const p = prefix ? `${prefix}/${k}` : k;
    let e: unknown;
    try {
      e = g.get(k);
    } catch {
      continue; // broken links etc. are not volumes
    }
    if (e instanceof H5.Dataset) out.push({ path: p, ds: e });
    else if (e instanceof H5.Group) out.push(...listDatasets(e, p));
  }
  return out;
}

/** The dataset at `key`, or an InputError that lists the datasets that exist. */
function getDataset(f: H5File, file: string, key: string): H5Dataset {
  const k = key.replace(/^\/+/, '');
  let e: unknown = null;
  try {
    e = k === '' ? f : f.get(k);
  } catch {
    e = null;
  }
  if (e instanceof H5.Dataset) return e;
  const have = listDatasets(f).map((d) => d.path);
  const what = e instanceof H5.Group ? 'is a group, not a dataset' : 'not found';
  throw new InputError(
    `dataset '${key}' ${what} in ${file}; datasets in the file: ${have.length ? have.join(', ') : '(none)'}`,
    'missing-key',
  );
}

function toNumbers(v: unknown): number[] | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return [v];
  if (typeof v === 'bigint') return [Number(v)];
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const out = Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
    return out.every((x) => Number.isFinite(x)) ? out : null;
  }
  return null;
}

/** `resolution` of a dataset, else of the nearest enclosing group (some files store it there). */
function findResolution(f: H5File, ds: H5Dataset): number[] | null {
  const own = readAttrNumbers(ds, 'resolution');
  if (own) return own;
  const parts = ds.path.replace(/^\/+/, '').split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const gp = parts.slice(0, i).join('/');
    let g: unknown;
    try {
      g = gp === '' ? f : f.get(gp);
    } catch {
      continue;
    }
    if (g instanceof H5.Group) {
      const r = readAttrNumbers(g, 'resolution');
      if (r) return r;
    }
  }
  return null;
}

function readAttrNumbers(obj: H5Group | H5Dataset, name: string): number[] | null {
  try {
    const a = obj.attrs[name];
    return a ? toNumbers(a.value) : null;
  } catch {
    return null;
  }
}

function checkRegion(region: Region, shape: number[], file: string, key: string): void {
  const ok =
    region.offset.length === 3 &&
    region.size.length === 3 &&
    region.offset.every((o, i) => Number.isInteger(o) && o >= 0 && o + region.size[i]! <= shape[i]!) &&
    region.size.every((s) => Number.isInteger(s) && s >= 1);
  if (!ok) {
    const larger = region.size.some((s, i) => s > shape[i]!);
    throw new InputError(
      `crop ${fmt(region.size)} at ${fmt(region.offset)} is ${larger ? 'larger than' : 'outside'} volume ${fmt(shape)} of ${file}:${key}`,
      'bad-region',
    );
  }
}

function toShape3(r: number[] | null): Shape3 | null {
  return r && r.length === 3 ? [r[0]!, r[1]!, r[2]!] : null;
}

/**
 * Read a dataset (or a 3D region of it, by hyperslab: only the chunks it touches are decompressed) in its
 * native dtype.
 */
export async function readArray(file: string, key: string, region?: Region): Promise<ArrayData> {
  if (isZarrPath(file)) return readZarrArray(file, key, region);
  return withFile(file, (f) => {
    const ds = getDataset(f, file, key);
    const meta = ds.metadata;
    const shape = meta.shape ?? [];
    const dtype = dtypeName(meta, String(ds.dtype));
    if (meta.type !== 0 && meta.type !== 1)
      throw new InputError(`dataset ${file}:${key} has unsupported dtype ${String(ds.dtype)} (expected a number type)`, 'bad-dtype');
    if (dtype === 'float16')
      throw new InputError(`dataset ${file}:${key} has dtype float16, which is not supported (use float32)`, 'bad-dtype');
    if (region) {
      if (shape.length !== 3)
        throw new InputError(
          `dataset ${file}:${key} has shape ${fmt(shape)} (rank ${shape.length}); a region read needs a 3D volume`,
          'bad-rank',
        );
      checkRegion(region, shape, file, key);
    }
    let data: unknown;
    try {
      data = region
        ? ds.slice(region.offset.map((o, i) => [o, o + region.size[i]!] as [number, number]))
        : ds.value;
    } catch (e) {
      throw new InputError(
        `cannot read ${file}:${key} (truncated or corrupt file?): ${hdf5Reason(e)}`,
        'read-failed',
      );
    }
    if (!ArrayBuffer.isView(data))
      throw new InputError(`dataset ${file}:${key} did not read as a numeric array (dtype ${dtype})`, 'bad-dtype');
    return {
      data: data as NumericArray,
      shape: region ? [...region.size] : [...shape],
      dtype,
      resolution: toShape3(findResolution(f, ds)),
    };
  });
}

/** The shape, dtype, chunks and resolution of one dataset, without reading its data. */
export async function datasetInfo(file: string, key: string): Promise<DatasetInfo> {
  if (isZarrPath(file)) return zarrArrayInfo(file, key);
  return withFile(file, (f) => describeDataset(f, getDataset(f, file, key), key.replace(/^\/+/, '')));
}

function describeDataset(f: H5File, ds: H5Dataset, path: string): DatasetInfo {
  const meta = ds.metadata;
  return {
    path,
    shape: [...(meta.shape ?? [])],
    dtype: dtypeName(meta, String(ds.dtype)),
    chunks: meta.chunks ? [...meta.chunks] : null,
    resolution: findResolution(f, ds),
  };
}

/** Every dataset of a file (all groups walked) with shape, dtype, chunks and resolution. */
export async function inspectFile(file: string): Promise<{ datasets: DatasetInfo[] }> {
  if (isZarrPath(file)) return inspectZarr(file);
  return withFile(file, (f) => ({
    datasets: listDatasets(f).map(({ path, ds }) => describeDataset(f, ds, path)),
  }));
}

function require3D(a: ArrayData, file: string, key: string): Shape3 {
  if (a.shape.length !== 3)
    throw new InputError(
      `dataset ${file}:${key} has shape ${fmt(a.shape)} (rank ${a.shape.length}); expected a 3D volume (z, y, x)`,
      'bad-rank',
    );
  return [a.shape[0]!, a.shape[1]!, a.shape[2]!];
}

/**
 * Read raw EM as float32 in [0, 1]: uint8 / 255, uint16 / 65535, float32/float64 as stored.
 * NaN or Inf is an InputError naming the first bad voxel (z, y, x) in file coordinates.
 */
export async function readRaw(file: string, key = DEFAULT_RAW_KEY, region?: Region): Promise<RawVolume> {
  const a = await readArray(file, key, region);
  const shape = require3D(a, file, key);
  const n = a.data.length;
  const out = new Float32Array(n);
  if (a.dtype === 'uint8') {
    const s = a.data as Uint8Array;
    for (let i = 0; i < n; i++) out[i] = s[i]! / 255;
  } else if (a.dtype === 'uint16') {
    const s = a.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = s[i]! / 65535;
  } else if (a.dtype === 'float32' || a.dtype === 'float64') {
    out.set(a.data as Float32Array | Float64Array);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(out[i]!)) {
        const off = region?.offset ?? [0, 0, 0];
        const z = Math.floor(i / (shape[1] * shape[2])) + off[0];
        const y = (Math.floor(i / shape[2]) % shape[1]) + off[1];
        const x = (i % shape[2]) + off[2];
        throw new InputError(
          `raw ${file}:${key} has a non-finite value (${out[i]}) at voxel (z,y,x) = (${z},${y},${x})`,
          'non-finite',
        );
      }
    }
  } else
    throw new InputError(
      `raw ${file}:${key} has dtype ${a.dtype}; supported raw dtypes: uint8, uint16, float32, float64`,
      'bad-dtype',
    );
  return { data: out, shape, resolution: a.resolution ?? [...DEFAULT_RESOLUTION] };
}

/**
 * Read neuron labels as uint32. Integer dtypes only (signed ones must be non-negative). uint64/int64 ids
 * that need more than 32 bits are relabelled consecutively in ascending order (0 stays 0); the relabelling
 * is computed on what was read, so two region reads of such a file do not share ids.
 */
export async function readLabels(
  file: string,
  key = DEFAULT_LABELS_KEY,
  region?: Region,
): Promise<LabelVolume> {
  const a = await readArray(file, key, region);
  const shape = require3D(a, file, key);
  const resolution = a.resolution ?? ([...DEFAULT_RESOLUTION] as Shape3);
  const n = a.data.length;
  const bad = (i: number, v: string): never => {
    const off = region?.offset ?? [0, 0, 0];
    const z = Math.floor(i / (shape[1] * shape[2])) + off[0];
    const y = (Math.floor(i / shape[2]) % shape[1]) + off[1];
    const x = (i % shape[2]) + off[2];
    throw new InputError(
      `labels ${file}:${key} have a negative id (${v}) at voxel (z,y,x) = (${z},${y},${x})`,
      'bad-labels',
    );
  };
  switch (a.dtype) {
    case 'uint8':
    case 'uint16':
    case 'uint32':
      return { data: Uint32Array.from(a.data as Uint8Array), shape, resolution };
    case 'int8':
    case 'int16':
    case 'int32': {
      const s = a.data as Int32Array;
      for (let i = 0; i < n; i++) if (s[i]! < 0) bad(i, String(s[i]));
      return { data: Uint32Array.from(s), shape, resolution };
    }
    case 'uint64':
    case 'int64': {
      const signed = a.dtype === 'int64';
      // Little-endian words: [lo, hi] per id, so no BigInt arithmetic in the common case.
      const w = new Uint32Array(a.data.buffer, a.data.byteOffset, n * 2);
      let wide = false;
      for (let i = 0; i < n; i++) {
        const hi = w[2 * i + 1]!;
        if (signed && hi & 0x80000000) bad(i, String((a.data as BigInt64Array)[i]));
        if (hi !== 0) wide = true;
      }
      const out = new Uint32Array(n);
      if (!wide) {
        for (let i = 0; i < n; i++) out[i] = w[2 * i]!;
        return { data: out, shape, resolution };
      }
      // Consecutive relabelling, ascending original id (keys hi * 2^32 + lo are exact below 2^53).
      const key64 = (i: number) => w[2 * i + 1]! * 4294967296 + w[2 * i]!;
      const ids = new Set<number>();
      for (let i = 0; i < n; i++) ids.add(key64(i));
      ids.delete(0);
      const sorted = [...ids].sort((p, q) => p - q);
      if (sorted.length >= 2 ** 32)
        throw new InputError(`labels ${file}:${key} have more than 2^32 distinct ids`, 'bad-labels');
      const map = new Map<number, number>();
      sorted.forEach((v, j) => map.set(v, j + 1));
      for (let i = 0; i < n; i++) {
        const k = key64(i);
        out[i] = k === 0 ? 0 : map.get(k)!;
      }
      return { data: out, shape, resolution };
    }
    default:
      throw new InputError(
        `labels ${file}:${key} have dtype ${a.dtype}; labels must be integers (uint8/16/32/64, int8/16/32/64)`,
        'bad-dtype',
      );
  }
}

/** Any typed array `writeDatasets` accepts. */
export type TypedArray = NumericArray;

/** One dataset to write. */
export interface DatasetSpec {
  /** Path inside the file, e.g. `volumes/raw`; groups are created as needed. */
  key: string;
  data: TypedArray;
  shape: number[];
  /** Stored dtype name (uint8 ... float64); default: the typed array's own type. Data are converted. */
  dtype?: string;
  attrs?: Record<string, number[] | number | string>;
}

/** Options of {@link writeDatasets}. */
export interface WriteOptions {
  /** Written as the `resolution` attribute of every 3D dataset that has none in its attrs. */
  resolution?: Shape3;
  /** gzip level 0-9 for chunked storage; false stores contiguous, uncompressed. Default 4. */
  compression?: number | false;
  /** Chunk shape for 3D datasets; default (1, min(256, y), min(256, x)) like the shipped stack. */
  chunks?: Shape3;
}

function nativeDtype(a: TypedArray): string {
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint32Array) return 'uint32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigUint64Array) return 'uint64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Float32Array) return 'float32';
  return 'float64';
}

/** Convert a typed array to the typed array of `dtype` (values copied; bigint <-> number as needed). */
function convertTo(a: TypedArray, dtype: string): TypedArray {
  if (nativeDtype(a) === dtype) return a;
  const n = a.length;
  if (dtype === 'uint64' || dtype === 'int64') {
    const out = dtype === 'uint64' ? new BigUint64Array(n) : new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = BigInt(Math.trunc(Number(a[i]!)));
    return out;
  }
  const nums = a instanceof BigUint64Array || a instanceof BigInt64Array ? Array.from(a, Number) : a;
  switch (dtype) {
    case 'uint8':
      return Uint8Array.from(nums as ArrayLike<number>);
    case 'int8':
      return Int8Array.from(nums as ArrayLike<number>);
    case 'uint16':
      return Uint16Array.from(nums as ArrayLike<number>);
    case 'int16':
      return Int16Array.from(nums as ArrayLike<number>);
    case 'uint32':
      return Uint32Array.from(nums as ArrayLike<number>);
    case 'int32':
      return Int32Array.from(nums as ArrayLike<number>);
    case 'float32':
      return Float32Array.from(nums as ArrayLike<number>);
    default:
      return Float64Array.from(nums as ArrayLike<number>);
  }
}

function ensureGroups(f: H5File, key: string): void {
  const parts = key.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    const e = f.get(p);
    if (e === null) f.create_group(p);
    else if (!(e instanceof H5.Group))
      throw new InputError(`cannot create group '${p}': a dataset of that name is already being written`, 'bad-key');
  }
}

function writeAttr(ds: H5Dataset, name: string, v: number[] | number | string): void {
  if (typeof v === 'string') ds.create_attribute(name, v);
  else {
    const arr = typeof v === 'number' ? [v] : v;
    const allInt = arr.every((x) => Number.isInteger(x) && Math.abs(x) < 2 ** 31);
    ds.create_attribute(name, allInt ? Int32Array.from(arr) : Float64Array.from(arr), [arr.length], allInt ? '<i' : '<d');
  }
}

/**
 * Write a new HDF5 file atomically: everything goes to a temp file in the same directory which is renamed
 * over `file` only after it was closed, so an interrupted run leaves no file under the target name.
 */
export async function writeDatasets(file: string, datasets: DatasetSpec[], opts: WriteOptions = {}): Promise<void> {
  await ready();
  const level = opts.compression ?? 4;
  for (const d of datasets) {
    const n = d.shape.reduce((a, b) => a * b, 1);
    if (n !== d.data.length)
      throw new InputError(`dataset '${d.key}' to write into ${file}: shape ${fmt(d.shape)} needs ${n} values, got ${d.data.length}`, 'bad-shape');
    if (d.dtype !== undefined && !(d.dtype in NAME_TO_CODE))
      throw new InputError(`dataset '${d.key}' to write into ${file}: unknown dtype '${d.dtype}' (use ${Object.keys(NAME_TO_CODE).join(', ')})`, 'bad-dtype');
  }
  mkdirSync(dirname(file) || '.', { recursive: true });
  const tmp = tempPathFor(file);
  let f: H5File | null = null;
  try {
    f = new H5.File(tmp, 'w');
    for (const d of datasets) {
      const key = d.key.replace(/^\/+/, '');
      ensureGroups(f, key);
      const dtype = d.dtype ?? nativeDtype(d.data);
      const data = convertTo(d.data, dtype);
      const is3D = d.shape.length === 3;
      const chunked = level !== false && d.data.length > 0;
      const chunks = chunked
        ? is3D
          ? (opts.chunks ?? [1, Math.min(256, d.shape[1]!), Math.min(256, d.shape[2]!)]).map((c, i) => Math.max(1, Math.min(c, d.shape[i]!)))
          : d.shape.map((s) => Math.max(1, s))
        : null;
      const ds = f.create_dataset({
        name: key,
        data,
        shape: d.shape,
        dtype: NAME_TO_CODE[dtype]!,
        ...(chunks ? { chunks, compression: level as number } : {}),
      });
      const attrs = { ...(d.attrs ?? {}) };
      if (is3D && opts.resolution && attrs.resolution === undefined) attrs.resolution = [...opts.resolution];
      for (const [k, v] of Object.entries(attrs)) writeAttr(ds, k, v);
    }
    f.close();
    f = null;
    renameSync(tmp, file);
  } catch (e) {
    if (f) {
      try {
        f.close();
      } catch {
        // already failing; the temp file is removed below
      }
    }
    rmSync(tmp, { force: true });
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write ${file}: ${hdf5Reason(e)}`, 'write-failed');
  }
}

/** A new dataset written block by block (see {@link openBlockWriter}). */
export interface BlockWriter {
  /** Write `data` (C order, the block's own shape `size`) at `offset` of the dataset. */
  write(offset: number[], size: number[], data: TypedArray): void;
  /** Close the file and move it to its name (the only moment it appears there). */
  close(): void;
  /** Close and delete the temp file (after a failure). */
  abort(): void;
}

/**
 * Create a new HDF5 file holding one chunked, gzip-compressed dataset of `spec.shape` (its data left to
 * fill) and return a writer that stores it block by block: memory stays one block, whatever the
 * dataset's size. Written to a temp file renamed on `close()`, as {@link writeDatasets}. Choose `chunks`
 * so that blocks cover whole chunks (no chunk is then read back and rewritten).
 */
export async function openBlockWriter(
  file: string,
  spec: { key: string; shape: number[]; dtype: string; chunks: number[]; attrs?: Record<string, number[] | number | string> },
  opts: { compression?: number } = {},
): Promise<BlockWriter> {
  await ready();
  if (!(spec.dtype in NAME_TO_CODE))
    throw new InputError(`dataset '${spec.key}' to write into ${file}: unknown dtype '${spec.dtype}' (use ${Object.keys(NAME_TO_CODE).join(', ')})`, 'bad-dtype');
  if (spec.chunks.length !== spec.shape.length || !spec.shape.every((s) => Number.isInteger(s) && s > 0))
    throw new InputError(`dataset '${spec.key}' to write into ${file}: shape ${fmt(spec.shape)} and chunks ${fmt(spec.chunks)} must be positive and of one rank`, 'bad-shape');
  mkdirSync(dirname(file) || '.', { recursive: true });
  const tmp = tempPathFor(file);
  const key = spec.key.replace(/^\/+/, '');
  let f: H5File | null = null;
  const fail = (e: unknown): never => {
    if (f) {
      try {
        f.close();
      } catch {
        // already failing; the temp file is removed below
      }
      f = null;
    }
    rmSync(tmp, { force: true });
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot write ${file}: ${hdf5Reason(e)}`, 'write-failed');
  };
  let ds: H5Dataset;
  try {
    f = new H5.File(tmp, 'w');
    ensureGroups(f, key);
    // Created empty (h5wasm needs the data of the shape it creates) and then resized: chunks are
    // allocated only when written.
    ds = f.create_dataset({
      name: key,
      data: convertTo(new Float64Array(0), spec.dtype),
      shape: spec.shape.map(() => 0),
      maxshape: spec.shape,
      dtype: NAME_TO_CODE[spec.dtype]!,
      chunks: spec.chunks.map((c, i) => Math.max(1, Math.min(c, spec.shape[i]!))),
      compression: opts.compression ?? 4,
    });
    ds.resize(spec.shape);
    for (const [k, v] of Object.entries(spec.attrs ?? {})) writeAttr(ds, k, v);
  } catch (e) {
    return fail(e);
  }
  return {
    write(offset, size, data) {
      if (!f) throw new InputError(`cannot write ${file}: the writer is closed`, 'write-failed');
      const n = size.reduce((a, b) => a * b, 1);
      if (data.length !== n || offset.length !== spec.shape.length || offset.some((o, i) => o < 0 || o + size[i]! > spec.shape[i]!))
        fail(new InputError(`block ${fmt(size)} at ${fmt(offset)} (${data.length} values) does not fit dataset '${key}' ${fmt(spec.shape)} of ${file}`, 'bad-shape'));
      try {
        ds.write_slice(offset.map((o, i) => [o, o + size[i]!] as [number, number]), convertTo(data, spec.dtype));
      } catch (e) {
        fail(e);
      }
    },
    close() {
      if (!f) return;
      try {
        f.close();
        f = null;
        renameSync(tmp, file);
      } catch (e) {
        fail(e);
      }
    },
    abort() {
      try {
        f?.close();
      } catch {
        // the temp file is removed below whatever its state
      }
      f = null;
      rmSync(tmp, { force: true });
    },
  };
}

/** Contents of a CREMI-layout file for {@link writeCremi}. */
export interface CremiContents {
  /** Float raw in [0, 1] is stored as uint8 (round(v * 255)); uint8 as is. */
  raw?: Volume<Uint8Array | Float32Array>;
  labels?: LabelVolume;
  resolution: Shape3;
  /** Store neuron ids as uint64 (CREMI) or uint32. Default uint64. */
  labelsDtype?: 'uint64' | 'uint32';
  /** More datasets (e.g. `volumes/labels/membrane`). */
  extra?: DatasetSpec[];
  /** gzip level, or false (see {@link WriteOptions}). */
  compression?: number | false;
}

/** Float [0, 1] to uint8 by rounding (values outside are clamped). */
export function toUint8(raw: Float32Array): Uint8Array {
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, raw[i]!)) * 255);
  return out;
}

/** Write `volumes/raw` (uint8), `volumes/labels/neuron_ids` and extras atomically, with resolution attributes. */
export async function writeCremi(file: string, c: CremiContents): Promise<void> {
  const ds: DatasetSpec[] = [];
  if (c.raw) {
    const d = c.raw.data instanceof Uint8Array ? c.raw.data : toUint8(c.raw.data as Float32Array);
    ds.push({ key: DEFAULT_RAW_KEY, data: d, shape: [...c.raw.shape], dtype: 'uint8' });
  }
  if (c.labels)
    ds.push({ key: DEFAULT_LABELS_KEY, data: c.labels.data, shape: [...c.labels.shape], dtype: c.labelsDtype ?? 'uint64' });
  ds.push(...(c.extra ?? []));
  await writeDatasets(file, ds, {
    resolution: c.resolution,
    ...(c.compression !== undefined ? { compression: c.compression } : {}),
  });
}

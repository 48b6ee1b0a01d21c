import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import FileSystemStore from '@zarrita/storage/fs';
import * as zarr from 'zarrita';
import { InputError } from '../core/errors.js';
import type { ArrayData, DatasetInfo, NumericArray, Region } from './dataset.js';
import type { Shape3 } from './types.js';

/*
 * Zarr volumes (v2 and v3 directory stores) through zarrita, behind the same readArray / datasetInfo /
 * inspectFile calls as HDF5 (hdf5.ts dispatches here for directories and `*.zarr` paths). A region read
 * fetches only the chunks it touches. Keys are array paths inside the store (`volumes/raw`); the
 * `resolution` attribute is looked up on the array, then on its enclosing groups, as in HDF5.
 */

/** True when `path` names a Zarr store: an existing directory, or a path ending in `.zarr`. */
export function isZarrPath(path: string): boolean {
  if (/\.zarr[\\/]?$/i.test(path)) return true;
  return existsSync(path) && statSync(path).isDirectory();
}

/** Dtypes dbmim reads (zarrita's names, as for v3 `data_type`). */
const SUPPORTED = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64']);

function fmt(a: readonly number[]): string {
  return `[${a.join(',')}]`;
}

/** Fail on a missing path or a directory without any Zarr metadata at its root. */
function checkStore(store: string): void {
  if (!existsSync(store)) throw new InputError(`Zarr store not found: ${store}`, 'missing-file');
  if (!statSync(store).isDirectory())
    throw new InputError(`${store} is not a directory, expected a Zarr directory store`, 'not-zarr');
  const meta = ['zarr.json', '.zgroup', '.zarray'];
  if (!meta.some((m) => existsSync(join(store, m))))
    throw new InputError(
      `${store} is a directory but not a Zarr store (no zarr.json, .zgroup or .zarray at its root); expected an HDF5 file or a Zarr store`,
      'not-zarr',
    );
}

/** Array paths of a store (v2 `.zarray`, v3 `zarr.json` with node_type array), walking directories. */
function listArrays(store: string, prefix = ''): string[] {
  const dir = join(store, prefix);
  if (prefix !== '' && existsSync(join(dir, '.zarray'))) return [prefix];
  const v3 = join(dir, 'zarr.json');
  if (prefix !== '' && existsSync(v3)) {
    try {
      if ((JSON.parse(readFileSync(v3, 'utf8')) as { node_type?: string }).node_type === 'array') return [prefix];
    } catch {
      return [];
    }
  }
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...listArrays(store, prefix ? `${prefix}/${e.name}` : e.name));
  return out;
}

async function openArray(store: string, key: string): Promise<zarr.Array<zarr.DataType, FileSystemStore>> {
  checkStore(store);
  const path = key.replace(/^\/+|\/+$/g, '');
  const loc = zarr.root(new FileSystemStore(resolve(store))).resolve(path === '' ? '/' : `/${path}`);
  try {
    return await zarr.open(loc, { kind: 'array' });
  } catch (e) {
    if (e instanceof zarr.NotFoundError || (e instanceof Error && /not found|no such/i.test(e.message))) {
      const have = listArrays(store);
      const isGroup = path !== '' && (existsSync(join(store, path, '.zgroup')) || isV3Group(join(store, path)));
      throw new InputError(
        `array '${key}' ${isGroup ? 'is a group, not an array' : 'not found'} in Zarr store ${store}; arrays in the store: ${have.length ? have.join(', ') : '(none)'}`,
        'missing-key',
      );
    }
    throw new InputError(`cannot open ${store}:${key} as a Zarr array: ${(e as Error).message}`, 'not-zarr');
  }
}

function isV3Group(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, 'zarr.json'), 'utf8')) as { node_type?: string }).node_type === 'group';
  } catch {
    return false;
  }
}

function toNumbers(v: unknown): number[] | null {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  return v as number[];
}

/** `resolution` attribute of the array, else of the nearest enclosing group. */
async function findResolution(store: string, arr: zarr.Array<zarr.DataType, FileSystemStore>, key: string): Promise<number[] | null> {
  const own = toNumbers(arr.attrs.resolution);
  if (own) return own;
  const parts = key.replace(/^\/+|\/+$/g, '').split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const gp = parts.slice(0, i).join('/');
    try {
      const g = await zarr.open(zarr.root(new FileSystemStore(resolve(store))).resolve(`/${gp}`), { kind: 'group' });
      const r = toNumbers(g.attrs.resolution);
      if (r) return r;
    } catch {
      // no group metadata at this level (implicit groups): keep walking up
    }
  }
  return null;
}

function checkDtype(arr: { dtype: string }, store: string, key: string): string {
  const dtype = String(arr.dtype);
  if (!SUPPORTED.has(dtype))
    throw new InputError(
      `array ${store}:${key} has dtype ${dtype}; supported: ${[...SUPPORTED].join(', ')}`,
      'bad-dtype',
    );
  return dtype;
}

function checkRegion(region: Region, shape: number[], store: string, key: string): void {
  if (shape.length !== 3)
    throw new InputError(
      `array ${store}:${key} has shape ${fmt(shape)} (rank ${shape.length}); a region read needs a 3D volume`,
      'bad-rank',
    );
  const ok =
    region.offset.every((o, i) => Number.isInteger(o) && o >= 0 && o + region.size[i]! <= shape[i]!) &&
    region.size.every((s) => Number.isInteger(s) && s >= 1);
  if (!ok) {
    const larger = region.size.some((s, i) => s > shape[i]!);
    throw new InputError(
      `crop ${fmt(region.size)} at ${fmt(region.offset)} is ${larger ? 'larger than' : 'outside'} volume ${fmt(shape)} of ${store}:${key}`,
      'bad-region',
    );
  }
}

/** C-order strides of a shape. */
function cStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Copy a strided result into C order (zarrita keeps an F-order array's native layout). */
function toCOrder(data: NumericArray, shape: number[], stride: number[]): NumericArray {
  const c = cStrides(shape);
  if (stride.every((s, i) => s === c[i] || shape[i] === 1)) return data;
  const n = data.length;
  const out = new (data.constructor as new (n: number) => NumericArray)(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let a = 0; a < shape.length; a++) src += idx[a]! * stride[a]!;
    (out as Float64Array)[i] = (data as Float64Array)[src]!;
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Read a Zarr array (or a 3D region of it) in its native dtype; the Zarr side of `readArray`. */
export async function readZarrArray(store: string, key: string, region?: Region): Promise<ArrayData> {
  const arr = await openArray(store, key);
  const dtype = checkDtype(arr, store, key);
  const shape = [...arr.shape];
  if (region) checkRegion(region, shape, store, key);
  let chunk: { data: unknown; shape: number[]; stride: number[] };
  try {
    chunk = (await zarr.get(
      arr,
      region ? region.offset.map((o, i) => zarr.slice(o, o + region.size[i]!)) : null,
    )) as typeof chunk;
  } catch (e) {
    throw new InputError(`cannot read ${store}:${key} (missing or corrupt chunk?): ${(e as Error).message}`, 'read-failed');
  }
  if (!ArrayBuffer.isView(chunk.data))
    throw new InputError(`array ${store}:${key} did not read as a numeric array (dtype ${dtype})`, 'bad-dtype');
  const data = toCOrder(chunk.data as NumericArray, chunk.shape, chunk.stride);
  const res = await findResolution(store, arr, key);
  return {
    data,
    shape: region ? [...region.size] : shape,
    dtype,
    resolution: res && res.length === 3 ? ([res[0]!, res[1]!, res[2]!] as Shape3) : null,
  };
}

async function describe(store: string, key: string): Promise<DatasetInfo> {
  const arr = await openArray(store, key);
  return {
    path: key.replace(/^\/+/, ''),
    shape: [...arr.shape],
    dtype: String(arr.dtype),
    chunks: [...arr.chunks],
    resolution: await findResolution(store, arr, key),
  };
}

/** Shape, dtype, chunks and resolution of one Zarr array; the Zarr side of `datasetInfo`. */
export async function zarrArrayInfo(store: string, key: string): Promise<DatasetInfo> {
  return describe(store, key);
}

/** Every array of a Zarr store; the Zarr side of `inspectFile`. */
export async function inspectZarr(store: string): Promise<{ datasets: DatasetInfo[] }> {
  checkStore(store);
  const out: DatasetInfo[] = [];
  for (const p of listArrays(store)) out.push(await describe(store, p));
  return { datasets: out };
}

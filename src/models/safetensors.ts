import { readFileSync, statSync, existsSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';

/*
 * The safetensors file format (the Hugging Face format PyTorch users load without executing code):
 * an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the raw little-endian tensor bytes.
 * The JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the
 * byte after the header); the optional `__metadata__` entry is a string -> string map.
 * Only float32 and int32 are written (all dbmim weights are one of the two); the reader validates every
 * entry (dtype known, sizes match shapes, offsets inside the file, no overlaps or gaps).
 */

/** Key of the free-form string map in the header. */
export const SAFETENSORS_METADATA_KEY = '__metadata__';
/** Header JSON beyond this many bytes is rejected (the reference implementation's 100 MB limit). */
const MAX_HEADER_BYTES = 100_000_000;

/** A tensor to write or a tensor read back. */
export interface SafeTensor {
  name: string;
  shape: number[];
  dtype: 'F32' | 'I32';
  data: Float32Array | Int32Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

function fail(where: string, what: string): never {
  throw new InputError(`safetensors ${where}: ${what}`, 'bad-safetensors');
}

/** Serialize tensors (in the given order, packed back to back) and string metadata to bytes. */
export function encodeSafetensors(tensors: SafeTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header[SAFETENSORS_METADATA_KEY] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === SAFETENSORS_METADATA_KEY || t.name === '' || t.name in header)
      fail('(writing)', `tensor name '${t.name}' is empty, reserved or used twice`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      fail('(writing)', `tensor '${t.name}' has ${t.data.length} values for shape [${t.shape}]`);
    const expected = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expected))
      fail('(writing)', `tensor '${t.name}' data does not match dtype ${t.dtype}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  // Pad the JSON with spaces so the data starts 8-byte aligned (as the reference writer does).
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically (temp file + rename). */
export function writeSafetensors(
  file: string,
  tensors: SafeTensor[],
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Parse safetensors bytes; `where` names the source in errors. Only F32 and I32 tensors are accepted. */
export function decodeSafetensors(bytes: Uint8Array, where = '(buffer)'): SafetensorsFile {
  if (bytes.length < 8) fail(where, `${bytes.length} bytes, too short for the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8)))
    fail(where, `header length ${n} exceeds the file (${bytes.length} bytes; truncated or not safetensors?)`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8'));
  } catch (e) {
    fail(where, `header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    fail(where, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  const tensors = new Map<string, SafeTensor>();
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === SAFETENSORS_METADATA_KEY) {
      if (v === null || typeof v !== 'object') fail(where, '__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(where, `__metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== 'F32' && e.dtype !== 'I32')
      fail(where, `tensor '${name}' has dtype ${JSON.stringify(e.dtype)} (supported: F32, I32)`);
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isInteger(s) && s >= 0))
      fail(where, `tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((o) => Number.isInteger(o) && o >= 0) ||
      off[1] < off[0]
    )
      fail(where, `tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as [number, number];
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4)
      fail(
        where,
        `tensor '${name}' spans ${end - begin} bytes, shape [${shape}] of ${e.dtype} needs ${count * 4}`,
      );
    if (end > dataLen)
      fail(where, `tensor '${name}' ends at byte ${end}, past the data (${dataLen} bytes; truncated?)`);
    spans.push([begin, end, name]);
    // Copy out: the data section need not be 4-byte aligned inside `bytes`.
    const buf = bytes.slice(dataStart + begin, dataStart + end).buffer;
    const data = e.dtype === 'F32' ? new Float32Array(buf) : new Int32Array(buf);
    tensors.set(name, { name, shape: [...shape], dtype: e.dtype, data });
  }
  // The data section is exactly the tensors, back to back (no overlap, no hidden bytes).
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at)
      fail(where, `tensor '${name}' starts at byte ${begin}, expected ${at} (overlap or gap)`);
    at = end;
  }
  if (at !== dataLen) fail(where, `${dataLen - at} bytes after the last tensor`);
  return { tensors, metadata };
}

/** Read and validate a safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  if (!existsSync(file)) throw new InputError(`file not found: ${file}`, 'missing-file');
  if (statSync(file).isDirectory())
    throw new InputError(`${file} is a directory, expected a .safetensors file`, 'bad-safetensors');
  return decodeSafetensors(new Uint8Array(readFileSync(file)), file);
}

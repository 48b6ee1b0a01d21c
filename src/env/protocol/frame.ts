import { ProtocolError } from '../../core/errors.js';

/*
 * Frames of the env protocol (docs/env-protocol.md). Every message, either way, is one frame:
 *   prefix  (16 bytes, little-endian): magic "DBEF" | u32 protocol version | u32 header bytes H | u32 payload bytes P
 *   header  (H bytes): a UTF-8 JSON object with `op`, space-padded so H is a multiple of 8; `arrays` lists
 *           the payload's arrays in order ({name, dtype, shape})
 *   payload (P bytes): each array's little-endian bytes, zero-padded to a multiple of 8, so every array
 *           starts 8-aligned and decodes as a view without copying.
 * Numbers travel as raw float32 / int8 bytes, never as per-number JSON: bench/env-protocol.ts measured
 * this framing against JSON lines with base64 payloads (see docs/env-protocol.md, "Why binary frames").
 */

/** Version of the env protocol spoken by this library; carried by every frame. */
export const PROTOCOL_VERSION = 1;
/** First 4 bytes of every frame ("DBEF": dbmim env frame). */
export const FRAME_MAGIC = 'DBEF';
export const PREFIX_BYTES = 16;

export type WireDtype = 'float32' | 'int32' | 'int8' | 'uint8';
export type WireArray = Float32Array | Int32Array | Int8Array | Uint8Array;

/** Layout of one payload array, as listed in the header's `arrays`. */
export interface ArraySpec {
  name: string;
  dtype: WireDtype;
  shape: number[];
}

export interface FrameHeader {
  op: string;
  arrays?: ArraySpec[];
  [key: string]: unknown;
}

/** A decoded frame: its header and its arrays by name (views into the frame's own buffer). */
export interface Frame {
  header: FrameHeader;
  arrays: Record<string, WireArray>;
}

/** An array to send; `shape` defaults to `[data.length]`. */
export interface NamedArray {
  name: string;
  data: WireArray;
  shape?: number[];
}

const CTORS = {
  float32: Float32Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
} as const;

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });
const MAGIC_BYTES = UTF8_ENCODER.encode(FRAME_MAGIC);
const align8 = (n: number): number => Math.ceil(n / 8) * 8;
const product = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function dtypeOf(a: WireArray): WireDtype {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new ProtocolError(`encodeFrame: unsupported array type ${(a as object).constructor?.name}`);
}

/** Encode one frame: `header` (JSON-safe, without `arrays`) plus the arrays in order. */
export function encodeFrame(header: FrameHeader, arrays: readonly NamedArray[] = []): Uint8Array {
  const specs: ArraySpec[] = arrays.map((a) => {
    const shape = a.shape ?? [a.data.length];
    if (product(shape) !== a.data.length)
      throw new ProtocolError(
        `encodeFrame: array '${a.name}' has ${a.data.length} values but shape [${shape.join(',')}]`,
      );
    return { name: a.name, dtype: dtypeOf(a.data), shape };
  });
  const json = UTF8_ENCODER.encode(JSON.stringify(specs.length ? { ...header, arrays: specs } : header));
  const H = align8(json.length);
  const P = arrays.reduce((s, a) => s + align8(a.data.byteLength), 0);
  const out = new Uint8Array(PREFIX_BYTES + H + P);
  const view = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  view.setUint32(4, PROTOCOL_VERSION, true);
  view.setUint32(8, H, true);
  view.setUint32(12, P, true);
  out.set(json, PREFIX_BYTES);
  out.fill(0x20, PREFIX_BYTES + json.length, PREFIX_BYTES + H); // JSON allows trailing spaces
  let off = PREFIX_BYTES + H;
  for (const a of arrays) {
    // Typed arrays are little-endian on every platform Node runs on.
    out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), off);
    off += align8(a.data.byteLength);
  }
  return out;
}

/** Decode a complete frame (prefix included, `bytes.byteOffset` a multiple of 8). Throws for a bad header. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = view.getUint32(8, true);
  const P = view.getUint32(12, true);
  let header: unknown;
  try {
    header = JSON.parse(UTF8_DECODER.decode(bytes.subarray(16, 16 + H)));
  } catch (e) {
    throw new ProtocolError(`frame header is not UTF-8 JSON (${(e as Error).message})`, 'bad-frame');
  }
  if (typeof header !== 'object' || header === null || typeof (header as FrameHeader).op !== 'string')
    throw new ProtocolError('frame header must be a JSON object with a string "op"', 'bad-frame');
  const h = header as FrameHeader;
  const specs = h.arrays ?? [];
  if (!Array.isArray(specs)) throw new ProtocolError('frame header "arrays" must be a list', 'bad-frame');
  const arrays: Record<string, WireArray> = {};
  let off = 0;
  for (const s of specs) {
    const ok =
      typeof s === 'object' &&
      s !== null &&
      typeof s.name === 'string' &&
      Object.hasOwn(CTORS, s.dtype) &&
      Array.isArray(s.shape) &&
      s.shape.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!ok)
      throw new ProtocolError(
        `frame array spec ${JSON.stringify(s)} is not {name, dtype: float32|int32|int8|uint8, shape: [ints]}`,
        'bad-frame',
      );
    if (Object.hasOwn(arrays, s.name))
      throw new ProtocolError(`frame lists array '${s.name}' twice`, 'bad-frame');
    const C = CTORS[s.dtype];
    const count = product(s.shape);
    const size = count * C.BYTES_PER_ELEMENT;
    if (off + size > P)
      throw new ProtocolError(
        `frame arrays need more than the payload's ${P} bytes (at array '${s.name}')`,
        'bad-frame',
      );
    arrays[s.name] = new C(bytes.buffer as ArrayBuffer, bytes.byteOffset + PREFIX_BYTES + H + off, count);
    off += align8(size);
  }
  if (off !== P)
    throw new ProtocolError(`frame payload has ${P} bytes; its arrays account for ${off}`, 'bad-frame');
  return { header: h, arrays };
}

/** Largest frame parts a reader accepts (a garbage prefix must not make it wait for gigabytes). */
export interface FrameLimits {
  maxHeaderBytes: number;
  maxPayloadBytes: number;
}

/**
 * Cuts a byte stream into frames. `push` returns every frame completed by a chunk: a `Frame`, or a
 * `ProtocolError` for a frame whose header is bad (the stream stays in step, the reader may go on). A
 * bad prefix (magic, version, sizes over the limits) throws: after it the stream cannot be resynchronized.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private need: number | null = null;

  constructor(private readonly limits: FrameLimits) {}

  /** Bytes received of a frame not yet complete (0 between frames). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Size of the frame being received (null before its prefix is complete). */
  get expectedBytes(): number | null {
    return this.need;
  }

  push(chunk: Uint8Array): (Frame | ProtocolError)[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: (Frame | ProtocolError)[] = [];
    while (true) {
      if (this.need === null) {
        // A wrong first byte fails at once (a JSON line, say), not after waiting for a full prefix.
        const head = this.peek(Math.min(this.buffered, MAGIC_BYTES.length));
        if (!head.every((b, i) => b === MAGIC_BYTES[i])) this.badMagic(this.peek(Math.min(this.buffered, 8)));
        if (this.buffered < PREFIX_BYTES) break;
        this.need = this.checkPrefix(this.peek(PREFIX_BYTES));
      }
      if (this.buffered < this.need) break;
      const bytes = this.take(this.need);
      this.need = null;
      try {
        out.push(decodeFrame(bytes));
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        out.push(e);
      }
    }
    return out;
  }

  private checkPrefix(p: Uint8Array): number {
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const version = view.getUint32(4, true);
    if (version !== PROTOCOL_VERSION)
      throw new ProtocolError(
        `the peer speaks env protocol v${version}; this side speaks v${PROTOCOL_VERSION}`,
        'protocol-version',
      );
    const H = view.getUint32(8, true);
    const P = view.getUint32(12, true);
    if (H % 8 !== 0 || H > this.limits.maxHeaderBytes)
      throw new ProtocolError(
        `frame header of ${H} bytes: expected a multiple of 8, at most ${this.limits.maxHeaderBytes}`,
        'bad-frame',
      );
    if (P % 8 !== 0 || P > this.limits.maxPayloadBytes)
      throw new ProtocolError(
        `frame payload of ${P} bytes: expected a multiple of 8, at most ${this.limits.maxPayloadBytes}`,
        'bad-frame',
      );
    return PREFIX_BYTES + H + P;
  }

  private badMagic(start: Uint8Array): never {
    const shown = JSON.stringify(String.fromCharCode(...start));
    throw new ProtocolError(
      `not a dbmim env frame: it starts with ${shown}, expected "${FRAME_MAGIC}" ` +
        `(frames are length-prefixed binary, see docs/env-protocol.md)`,
      'bad-frame',
    );
  }

  private peek(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (o === n) break;
    }
    return out;
  }

  /** Remove the first `n` bytes into a fresh (8-aligned) buffer. */
  private take(n: number): Uint8Array {
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        this.chunks.shift();
        left -= c.length;
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
    return out;
  }
}

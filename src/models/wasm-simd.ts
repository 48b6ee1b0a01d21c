import * as tf from '@tensorflow/tfjs';

/*
 * A SIMD loop over the wasm backend's own heap: a tiny WebAssembly module, assembled here from its
 * bytes, that imports the backend's memory and so reads and writes tensors where they are. JS loops on
 * that memory run ~10 ns an element for an AdamW update (float64 arithmetic, no SIMD); four lanes of
 * float32 do it at memory speed. Used where one fused loop replaces many small kernels and no backend
 * kernel exists (the AdamW update, adamw-kernel.ts). Without the wasm backend, or where the module does
 * not instantiate, callers fall back to their JS loop.
 */

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (small constants). */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

// instructions
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32Const = (v: number) => [0x41, ...sleb(v)];
const I32_ADD = [0x6a];
const I32_GE_U = [0x4f];
const simd = (op: number) => [0xfd, ...uleb(op)];
const LOAD = [...simd(0x00), 0, 0]; // v128.load, align hint 1, offset 0
const STORE = [...simd(0x0b), 0, 0];
const SPLAT = simd(0x13); // f32x4.splat
const SQRT = simd(0xe3);
const ADD = simd(0xe4);
const SUB = simd(0xe5);
const MUL = simd(0xe6);
const DIV = simd(0xe7);

/**
 * `adamw(p, g, m, v, po, mo, vo, nBytes, b1, b2, c1, c2, step, invBc2, eps, keep)`: byte offsets of the
 * seven float32 arrays, their length in bytes (a multiple of 16), then the constants of the update
 *   m' = b1 m + c1 g;  v' = b2 v + c2 g^2;  p' = keep p - step m' / (sqrt(v' invBc2) + eps).
 */
function adamwModule(): Uint8Array {
  // params 0-7 i32 (pointers, nBytes), 8-15 f32; locals 16 i (i32), 17-24 splatted constants, 25-27 g m v
  const [N, I, G, M, V] = [7, 16, 25, 26, 27];
  const K = (j: number) => 17 + j; // b1 b2 c1 c2 step invBc2 eps keep
  const at = (ptr: number) => [...get(ptr), ...get(I), ...I32_ADD];
  const body = [
    ...vec([
      [1, I32],
      [11, V128],
    ]),
    ...Array.from({ length: 8 }, (_, j) => [...get(8 + j), ...SPLAT, ...set(K(j))]).flat(),
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...[...get(I), ...get(N), ...I32_GE_U, 0x0d, 1], // i >= nBytes: break
    ...[...at(1), ...LOAD, ...set(G)],
    ...[...at(2), ...LOAD, ...get(K(0)), ...MUL, ...get(G), ...get(K(2)), ...MUL, ...ADD, ...set(M)],
    ...[...at(3), ...LOAD, ...get(K(1)), ...MUL, ...get(G), ...get(G), ...MUL, ...get(K(3)), ...MUL, ...ADD],
    ...set(V),
    ...[...at(5), ...get(M), ...STORE],
    ...[...at(6), ...get(V), ...STORE],
    ...at(4), // address of p'
    ...[...at(0), ...LOAD, ...get(K(7)), ...MUL],
    ...[...get(K(4)), ...get(M), ...MUL],
    ...[...get(V), ...get(K(5)), ...MUL, ...SQRT, ...get(K(6)), ...ADD, ...DIV, ...SUB, ...STORE],
    ...[...get(I), ...i32Const(16), ...I32_ADD, ...set(I), 0x0c, 0], // i += 16; continue
    ...[0x0b, 0x0b, 0x0b], // end loop, block, function
  ];
  const type = [0x60, ...vec(Array.from({ length: 16 }, (_, j) => [j < 8 ? I32 : F32])), 0];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([type])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])), // memory, min 1 page
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('adamw'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

/** The SIMD AdamW loop (arguments as in {@link adamwModule}). */
export type SimdAdamW = (...args: number[]) => void;

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let cached: { memory: object; adamw: SimdAdamW } | null | undefined;

/** The SIMD loops on the active wasm backend's heap, or null (another backend, or no wasm SIMD). */
export function wasmSimd(): { adamw: SimdAdamW } | null {
  if (tf.getBackend() !== 'wasm') return null;
  const memory = (tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(memory instanceof WA.Memory)) return null;
  if (cached === undefined || (cached && cached.memory !== memory)) {
    try {
      const inst = new WA.Instance(new WA.Module(adamwModule()), { env: { memory } });
      cached = { memory, adamw: inst.exports.adamw as SimdAdamW };
    } catch {
      cached = null; // no SIMD in this engine: callers use their JS loop
    }
  }
  return cached;
}

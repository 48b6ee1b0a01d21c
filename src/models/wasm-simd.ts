import * as tf from '@tensorflow/tfjs';
import { activeJsMemory, ensureJsKernel } from './js-kernel.js';

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

/**
 * Byte arrays (and single bytes) joined, by Array.prototype.concat. The generators join long arrays
 * with this, not with `[...a, ...b]` or a `for of` push: V8 runs those as bytecode loops over every byte
 * in the generator's own frame, which made the per-shape generators (convFunc, wgradFunc) hot enough
 * for V8 to compile them, inlined helpers and all: 1.2-5 s of compiler CPU in every process, for
 * functions that run a few times.
 */
const cat = (...parts: (number[] | number)[]): number[] => ([] as number[]).concat(...parts);
/** Byte arrays appended to `out` (in the generators' loops: no spread there, see cat). */
function append(out: number[], ...parts: number[][]): void {
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]!);
}
const section = (id: number, body: number[]) => cat(id, uleb(body.length), body);
const vec = (items: number[][]) => cat(uleb(items.length), ...items);
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

// instructions
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32Const = (v: number) => [0x41, ...sleb(v)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const I32_ADD = [0x6a];
const I32_SUB = [0x6b];
const I32_DIV_U = [0x6e];
const I32_LT_U = [0x49];
const I32_MUL = [0x6c];
const F32_LOAD = [0x2a, 0, 0]; // align hint 1, offset 0
const F32_STORE = [0x38, 0, 0];
const F32_ADD = [0x92];
/** `local += step` (i32): a counter's or a pointer's advance. */
const addTo = (local: number, step: number[]) => [...get(local), ...step, ...I32_ADD, ...set(local)];
const lane = (i: number) => [...simd(0x1f), i]; // f32x4.extract_lane
const ZERO = [...simd(0x0c), ...new Array<number>(16).fill(0)]; // v128.const 0
const LOAD = [...simd(0x00), 0, 0]; // v128.load, align hint 1, offset 0
const STORE = [...simd(0x0b), 0, 0];
const SPLAT = simd(0x13); // f32x4.splat
const SQRT = simd(0xe3);
const ADD = simd(0xe4);
const SUB = simd(0xe5);
const MUL = simd(0xe6);
const DIV = simd(0xe7);

/** `do { body } while (local[counter] += step, local[counter] < local[limit])` (counts are never 0). */
function doWhile(counter: number, step: number[], limit: number, body: number[]): number[] {
  return cat(
    [0x03, 0x40], // loop
    body,
    [...get(counter), ...step, ...I32_ADD, 0x22, ...uleb(counter)], // local.tee
    [...get(limit), ...I32_LT_U, 0x0d, 0, 0x0b], // br_if 0, end
  );
}

interface Func {
  name: string;
  params: number[];
  /** Extra locals as (count, type) runs. */
  locals: [number, number][];
  body: number[];
  /** Result types (none when absent). */
  results?: number[];
}

/**
 * `adamw(p, g, m, v, po, mo, vo, nBytes, b1, b2, c1, c2, step, invBc2, eps, keep)`: byte offsets of the
 * seven float32 arrays, their length in bytes (a multiple of 16), then the constants of the update
 *   m' = b1 m + c1 g;  v' = b2 v + c2 g^2;  p' = keep p - step m' / (sqrt(v' invBc2) + eps).
 */
function adamwFunc(): Func {
  // params 0-7 i32 (pointers, nBytes), 8-15 f32; locals 16 i (i32), 17-24 splatted constants, 25-27 g m v
  const [N, I, G, M, V] = [7, 16, 25, 26, 27];
  const K = (j: number) => 17 + j; // b1 b2 c1 c2 step invBc2 eps keep
  const at = (ptr: number) => [...get(ptr), ...get(I), ...I32_ADD];
  const body = [
    ...Array.from({ length: 8 }, (_, j) => [...get(8 + j), ...SPLAT, ...set(K(j))]).flat(),
    ...doWhile(I, i32Const(16), N, [
      ...[...at(1), ...LOAD, ...set(G)],
      ...[...at(2), ...LOAD, ...get(K(0)), ...MUL, ...get(G), ...get(K(2)), ...MUL, ...ADD, ...set(M)],
      ...[
        ...at(3),
        ...LOAD,
        ...get(K(1)),
        ...MUL,
        ...get(G),
        ...get(G),
        ...MUL,
        ...get(K(3)),
        ...MUL,
        ...ADD,
      ],
      ...set(V),
      ...[...at(5), ...get(M), ...STORE],
      ...[...at(6), ...get(V), ...STORE],
      ...at(4), // address of p'
      ...[...at(0), ...LOAD, ...get(K(7)), ...MUL],
      ...[...get(K(4)), ...get(M), ...MUL],
      ...[...get(V), ...get(K(5)), ...MUL, ...SQRT, ...get(K(6)), ...ADD, ...DIV, ...SUB, ...STORE],
    ]),
  ];
  return {
    name: 'adamw',
    params: Array.from({ length: 16 }, (_, j) => (j < 8 ? I32 : F32)),
    locals: [
      [1, I32],
      [11, V128],
    ],
    body,
  };
}

/**
 * `bmm(a, b, c, batch, m, k, nBytes, aBatch, aRow, aCol, bBatch)`: `c[t] = a[t] · b[t]` for t < batch,
 * c `[batch, m, n]` and b `[batch, k, n]` contiguous with n a multiple of 4 (nBytes = 4n), a's element
 * (t, i, kk) at `a + t aBatch + i aRow + kk aCol` (byte strides: a as stored, or transposed). Each
 * output row is accumulated four columns at a time: c_i += a_ik b_k.
 */
function bmmFunc(): Func {
  const [A, B, C, BATCH, M, K, NB, AB, AR, AC, BB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [T, I, KK, J, AROW, BROW, CROW, AV] = [11, 12, 13, 14, 15, 16, 17, 18];
  const body = [
    ...[...get(C), ...set(CROW)],
    ...doWhile(T, i32Const(1), BATCH, [
      ...[...i32Const(0), ...set(I)],
      ...doWhile(I, i32Const(1), M, [
        // zero the output row
        ...[...i32Const(0), ...set(J)],
        ...doWhile(J, i32Const(16), NB, [...get(CROW), ...get(J), ...I32_ADD, ...ZERO, ...STORE]),
        // a's row i of batch t, and b's batch t
        ...[...get(A), ...get(T), ...get(AB), ...I32_MUL, ...I32_ADD, ...get(I), ...get(AR), ...I32_MUL],
        ...[...I32_ADD, ...set(AROW)],
        ...[...get(B), ...get(T), ...get(BB), ...I32_MUL, ...I32_ADD, ...set(BROW)],
        ...[...i32Const(0), ...set(KK)],
        ...doWhile(KK, i32Const(1), K, [
          ...[
            ...get(AROW),
            ...get(KK),
            ...get(AC),
            ...I32_MUL,
            ...I32_ADD,
            ...F32_LOAD,
            ...SPLAT,
            ...set(AV),
          ],
          ...[...i32Const(0), ...set(J)],
          ...doWhile(J, i32Const(16), NB, [
            ...[...get(CROW), ...get(J), ...I32_ADD], // store address
            ...[...get(CROW), ...get(J), ...I32_ADD, ...LOAD],
            ...[...get(AV), ...get(BROW), ...get(J), ...I32_ADD, ...LOAD, ...MUL, ...ADD, ...STORE],
          ]),
          ...addTo(BROW, get(NB)),
        ]),
        ...addTo(CROW, get(NB)),
      ]),
    ]),
  ];
  return {
    name: 'bmm',
    params: new Array<number>(11).fill(I32),
    locals: [
      [7, I32],
      [1, V128],
    ],
    body,
  };
}

/**
 * `bmmt(a, b, c, batch, m, n, kBytes)`: `c[t] = a[t] · b[t]ᵀ` for a `[batch, m, k]`, b `[batch, n, k]`,
 * c `[batch, m, n]`, all contiguous, k a multiple of 4 (kBytes = 4k): each output a dot product of two
 * rows, four products at a time.
 */
function bmmtFunc(): Func {
  const [A, B, C, BATCH, M, N, KB] = [0, 1, 2, 3, 4, 5, 6];
  const [T, I, J, KK, AROW, BROW, BBASE, COUT, ACC] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const body = [
    ...[...get(C), ...set(COUT), ...get(A), ...set(AROW)],
    ...doWhile(T, i32Const(1), BATCH, [
      ...[...get(B), ...get(T), ...get(N), ...get(KB), ...I32_MUL, ...I32_MUL, ...I32_ADD, ...set(BBASE)],
      ...[...i32Const(0), ...set(I)],
      ...doWhile(I, i32Const(1), M, [
        ...[...get(BBASE), ...set(BROW), ...i32Const(0), ...set(J)],
        ...doWhile(J, i32Const(1), N, [
          ...[...ZERO, ...set(ACC), ...i32Const(0), ...set(KK)],
          ...doWhile(KK, i32Const(16), KB, [
            ...[...get(ACC), ...get(AROW), ...get(KK), ...I32_ADD, ...LOAD],
            ...[...get(BROW), ...get(KK), ...I32_ADD, ...LOAD, ...MUL, ...ADD, ...set(ACC)],
          ]),
          ...[...get(COUT), ...get(ACC), ...lane(0), ...get(ACC), ...lane(1), ...F32_ADD],
          ...[...get(ACC), ...lane(2), ...get(ACC), ...lane(3), ...F32_ADD, ...F32_ADD, ...F32_STORE],
          ...addTo(COUT, i32Const(4)),
          ...addTo(BROW, get(KB)),
        ]),
        ...addTo(AROW, get(KB)),
      ]),
    ]),
  ];
  return {
    name: 'bmmt',
    params: new Array<number>(7).fill(I32),
    locals: [
      [8, I32],
      [1, V128],
    ],
    body,
  };
}

/**
 * `colsum(src, dst, rows, rowBytes)`: `dst[j] = sum over i of src[i, j]` for src `[rows, cols]` with cols
 * a multiple of 4 (rowBytes = 4 cols), summed in float32 in row order, four columns at a time into dst
 * (which stays in cache).
 */
function colsumFunc(): Func {
  const [SRC, DST, ROWS, RB] = [0, 1, 2, 3];
  const [I, J, ROW] = [4, 5, 6];
  const body = [
    ...[...i32Const(0), ...set(J)],
    ...doWhile(J, i32Const(16), RB, [...get(DST), ...get(J), ...I32_ADD, ...ZERO, ...STORE]),
    ...[...get(SRC), ...set(ROW)],
    ...doWhile(I, i32Const(1), ROWS, [
      ...[...i32Const(0), ...set(J)],
      ...doWhile(J, i32Const(16), RB, [
        ...[...get(DST), ...get(J), ...I32_ADD], // store address
        ...[...get(DST), ...get(J), ...I32_ADD, ...LOAD],
        ...[...get(ROW), ...get(J), ...I32_ADD, ...LOAD, ...ADD, ...STORE],
      ]),
      ...addTo(ROW, get(RB)),
    ]),
  ];
  return { name: 'colsum', params: new Array<number>(4).fill(I32), locals: [[3, I32]], body };
}

/**
 * `relugrad(dy, y, out, nBytes)`: `out = y > 0 ? dy : 0` elementwise (relu's backward from its output),
 * nBytes a multiple of 16.
 */
function reluGradFunc(): Func {
  const [DY, Y, OUT, NB] = [0, 1, 2, 3];
  const I = 4;
  const body = doWhile(I, i32Const(16), NB, [
    ...[...get(OUT), ...get(I), ...I32_ADD],
    ...[...get(DY), ...get(I), ...I32_ADD, ...LOAD],
    ...[...get(Y), ...get(I), ...I32_ADD, ...LOAD, ...ZERO, ...simd(0x44)], // f32x4.gt
    ...[...simd(0x4e), ...STORE], // v128.and
  ]);
  return { name: 'relugrad', params: new Array<number>(4).fill(I32), locals: [[1, I32]], body };
}

/**
 * `swapmid(src, dst, a, b, c, dBytes)`: dst `[a, c, b, d]` = src `[a, b, c, d]` with the middle axes
 * swapped, d a multiple of 4 (dBytes = 4d): blocks of d contiguous floats copied 4 at a time.
 */
function swapMiddleFunc(): Func {
  const [SRC, DST, A, B, C, DB] = [0, 1, 2, 3, 4, 5];
  const [IA, IB, IC, J, SP, DP, DA, BDB, CBDB] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
  const body = [
    ...[...get(B), ...get(DB), ...I32_MUL, ...set(BDB), ...get(C), ...get(BDB), ...I32_MUL, ...set(CBDB)],
    ...[...get(SRC), ...set(SP), ...get(DST), ...set(DA)],
    ...doWhile(IA, i32Const(1), A, [
      ...[...i32Const(0), ...set(IB)],
      ...doWhile(IB, i32Const(1), B, [
        // dst (a, 0, b): then each c is a row of b blocks further
        ...[
          ...get(DA),
          ...get(IB),
          ...get(DB),
          ...I32_MUL,
          ...I32_ADD,
          ...set(DP),
          ...i32Const(0),
          ...set(IC),
        ],
        ...doWhile(IC, i32Const(1), C, [
          ...[...i32Const(0), ...set(J)],
          ...doWhile(J, i32Const(16), DB, [
            ...[...get(DP), ...get(J), ...I32_ADD, ...get(SP), ...get(J), ...I32_ADD, ...LOAD, ...STORE],
          ]),
          ...addTo(SP, get(DB)),
          ...addTo(DP, get(BDB)),
        ]),
      ]),
      ...addTo(DA, get(CBDB)),
    ]),
  ];
  return { name: 'swapmid', params: new Array<number>(6).fill(I32), locals: [[9, I32]], body };
}

/** `f32.const v` (little-endian IEEE single). */
const f32Const = (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
/** `i8x16.shuffle` of two vectors by 32-bit lanes (0-3: the first operand's, 4-7: the second's). */
const shuffle32 = (lanes: [number, number, number, number]) => [
  ...simd(0x0d),
  ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
];

/** Taylor coefficients 1/k! of exp, k = 7 down to 2 (|r| <= ln2 / 2: truncation below 1e-8 relative). */
const EXP_COEFFS = [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2];
/** Coefficients 1/(2j+1) of log1p(e) = 2 s (1 + s^2/3 + s^4/5 + ...), s = e / (2 + e) <= 1/3, j = 7 down to 1. */
const LOG1P_COEFFS = [1 / 15, 1 / 13, 1 / 11, 1 / 9, 1 / 7, 1 / 5, 1 / 3];
/** exp's argument floor: e^-87.3 is float32's smallest normal number (2^-126). */
const EXP_MIN = -87.3;

/**
 * `bce(z, t, w, g, groups, planeBytes, inv) -> f32`: weighted binary cross-entropy on logits for `groups`
 * groups of 4 voxels of one sample, with logits channels-last `[voxels, 3]` (z, 48 bytes a group) and
 * targets and weights channels-first `[3, voxels]` (channel c at `t + c planeBytes`, 16 bytes a group);
 * targets and weights are shuffled into the logits' interleaved order, 3 vectors a group. Per element,
 * with e = exp(-|z|) (a degree-7 polynomial after the usual ln 2 range reduction) and log1p(e) (its
 * atanh series, 8 terms):
 *   loss = max(z, 0) - z t + log1p(e)           (returned: the sum of w loss over the groups)
 *   g    = w (sigmoid(z) - t) inv               (stored channels-last at g; sigmoid = 1/(1+e) or e/(1+e))
 * Both to within a few float32 ulps of the op-by-op formula (tfjs's exp, log1p and sigmoid).
 */
function bceFunc(): Func {
  const [Z, T, W, G, CNT, PB, INV] = [0, 1, 2, 3, 4, 5, 6];
  const [I, END, ZP] = [7, 8, 9]; // i32: byte offset in a channel plane, its end, byte offset in z / g
  // v128 locals: accumulator, 3 targets and 3 weights (interleaved), 3 raw channels, scratch, constants
  let next = 10;
  const v = () => next++;
  const [ACC, T0, T1, T2, W0, W1, W2, CA, CB, CC, X, E, R, N, S, Q] = Array.from({ length: 16 }, v);
  const [K_LOG2E, K_LN2HI, K_LN2LO, K_MIN, K_ONE, K_TWO, K_ZERO, K_INV] = Array.from({ length: 8 }, v);
  const KE = EXP_COEFFS.map(v);
  const KL = LOG1P_COEFFS.map(v);
  const nV128 = next - 10;
  const splatF = (x: number, local: number) => [...f32Const(x), ...SPLAT, ...set(local)];
  const F32X4_ABS = simd(0xe0);
  const F32X4_MAX = simd(0xe9);
  const F32X4_NEAREST = simd(0x6a);
  const F32X4_GE = simd(0x46);
  const I32X4_TRUNC = simd(0xf8);
  const I32X4_ADD = simd(0xae);
  const I32X4_SHL = simd(0xab);
  const I32X4_SPLAT = simd(0x11);
  const BITSELECT = simd(0x52);
  /** Load the 3 channel vectors at byte offset I of `base`'s planes into CA, CB, CC, then interleave them into o0-o2. */
  const interleave = (base: number, o0: number, o1: number, o2: number) => [
    ...[...get(base), ...get(I), ...I32_ADD, ...LOAD, ...set(CA)],
    ...[...get(base), ...get(PB), ...I32_ADD, ...get(I), ...I32_ADD, ...LOAD, ...set(CB)],
    ...[
      ...get(base),
      ...get(PB),
      ...get(PB),
      ...I32_ADD,
      ...I32_ADD,
      ...get(I),
      ...I32_ADD,
      ...LOAD,
      ...set(CC),
    ],
    // (a0 b0 c0 a1), (b1 c1 a2 b2), (c2 a3 b3 c3)
    ...[
      ...get(CA),
      ...get(CB),
      ...shuffle32([0, 4, 1, 5]),
      ...get(CC),
      ...shuffle32([0, 1, 4, 2]),
      ...set(o0),
    ],
    ...[
      ...get(CA),
      ...get(CB),
      ...shuffle32([5, 2, 6, 3]),
      ...get(CC),
      ...shuffle32([0, 5, 1, 2]),
      ...set(o1),
    ],
    ...[
      ...get(CA),
      ...get(CB),
      ...shuffle32([3, 7, 3, 7]),
      ...get(CC),
      ...shuffle32([6, 0, 1, 7]),
      ...set(o2),
    ],
  ];
  /** One vector of 4 logits at ZP + off, their targets tl and weights wl: accumulate, store the gradient. */
  const element = (off: number, tl: number, wl: number) => {
    const out: number[] = [...get(Z), ...get(ZP), ...I32_ADD, ...loadAt(off), ...set(X)];
    // e = exp(-|x|): n = nearest(y log2 e), r = y - n ln2 (two parts), e = p(r) 2^n
    out.push(...get(X), ...F32X4_ABS, ...simd(0xe1), ...get(K_MIN), ...F32X4_MAX, ...set(R)); // y = max(-|x|, min)
    out.push(...get(R), ...get(K_LOG2E), ...MUL, ...F32X4_NEAREST, ...set(N));
    out.push(
      ...get(R),
      ...get(N),
      ...get(K_LN2HI),
      ...MUL,
      ...SUB,
      ...get(N),
      ...get(K_LN2LO),
      ...MUL,
      ...SUB,
    );
    out.push(...set(R));
    out.push(...get(KE[0]!));
    for (let j = 1; j < KE.length; j++) out.push(...get(R), ...MUL, ...get(KE[j]!), ...ADD);
    out.push(...get(R), ...MUL, ...get(K_ONE), ...ADD, ...get(R), ...MUL, ...get(K_ONE), ...ADD); // p(r)
    out.push(...get(N), ...I32X4_TRUNC, ...i32Const(127), ...I32X4_SPLAT, ...I32X4_ADD, ...i32Const(23));
    out.push(...I32X4_SHL, ...MUL, ...set(E));
    // log1p(e) = 2 s q(s^2), s = e / (2 + e)
    out.push(...get(E), ...get(K_TWO), ...get(E), ...ADD, ...DIV, ...set(S));
    out.push(...get(S), ...get(S), ...MUL, ...set(Q)); // s^2
    out.push(...get(KL[0]!));
    for (let j = 1; j < KL.length; j++) out.push(...get(Q), ...MUL, ...get(KL[j]!), ...ADD);
    out.push(...get(Q), ...MUL, ...get(K_ONE), ...ADD, ...get(S), ...MUL, ...get(K_TWO), ...MUL, ...set(S)); // log1p(e)
    // acc += w ((max(x, 0) - x t) + log1p(e))
    out.push(...get(ACC), ...get(wl));
    out.push(
      ...get(X),
      ...get(K_ZERO),
      ...F32X4_MAX,
      ...get(X),
      ...get(tl),
      ...MUL,
      ...SUB,
      ...get(S),
      ...ADD,
    );
    out.push(...MUL, ...ADD, ...set(ACC));
    // g = (sigmoid(x) - t) w inv, sigmoid = x >= 0 ? 1/(1+e) : e/(1+e)
    out.push(...get(G), ...get(ZP), ...I32_ADD); // store address
    out.push(...get(K_ONE), ...get(K_ONE), ...get(E), ...ADD, ...DIV, ...set(Q));
    out.push(...get(Q), ...get(E), ...get(Q), ...MUL, ...get(X), ...get(K_ZERO), ...F32X4_GE, ...BITSELECT);
    out.push(...get(tl), ...SUB, ...get(wl), ...MUL, ...get(K_INV), ...MUL, ...storeAt(off));
    return out;
  };
  const body = [
    ...splatF(Math.LOG2E, K_LOG2E),
    ...splatF(0.693359375, K_LN2HI),
    ...splatF(-2.1219444e-4, K_LN2LO),
    ...splatF(EXP_MIN, K_MIN),
    ...splatF(1, K_ONE),
    ...splatF(2, K_TWO),
    ...splatF(0, K_ZERO),
    ...[...get(INV), ...SPLAT, ...set(K_INV)],
    ...EXP_COEFFS.flatMap((c, j) => splatF(c, KE[j]!)),
    ...LOG1P_COEFFS.flatMap((c, j) => splatF(c, KL[j]!)),
    ...[...ZERO, ...set(ACC), ...get(CNT), ...i32Const(16), ...I32_MUL, ...set(END)],
    ...doWhile(I, i32Const(16), END, [
      ...interleave(T, T0, T1, T2),
      ...interleave(W, W0, W1, W2),
      ...[...get(I), ...i32Const(3), ...I32_MUL, ...set(ZP)],
      ...element(0, T0, W0),
      ...element(16, T1, W1),
      ...element(32, T2, W2),
    ]),
    ...[...get(ACC), ...lane(0), ...get(ACC), ...lane(1), ...F32_ADD],
    ...[...get(ACC), ...lane(2), ...get(ACC), ...lane(3), ...F32_ADD, ...F32_ADD],
  ];
  return {
    name: 'bce',
    params: [I32, I32, I32, I32, I32, I32, F32],
    locals: [
      [3, I32],
      [nV128, V128],
    ],
    body,
    results: [F32],
  };
}

/** `vsum(src, nBytes) -> f32`: the sum of nBytes / 4 floats (nBytes a positive multiple of 16), four lanes, then the lanes. */
function vsumFunc(): Func {
  const [SRC, NB, I, ACC] = [0, 1, 2, 3];
  return {
    name: 'vsum',
    params: [I32, I32],
    locals: [
      [1, I32],
      [1, V128],
    ],
    body: [
      ...[...ZERO, ...set(ACC)],
      ...doWhile(I, i32Const(16), NB, [
        ...get(ACC),
        ...get(SRC),
        ...get(I),
        ...I32_ADD,
        ...LOAD,
        ...ADD,
        ...set(ACC),
      ]),
      ...[...get(ACC), ...lane(0), ...get(ACC), ...lane(1), ...F32_ADD],
      ...[...get(ACC), ...lane(2), ...get(ACC), ...lane(3), ...F32_ADD, ...F32_ADD],
    ],
    results: [F32],
  };
}

/**
 * `pool2(src, dst, rows, wo, cBytes, grad)`: the 2x2 stride-2 average pool of channels-last images and its
 * adjoint, c a multiple of 4 (cBytes = 4c). grad 0: dst `[rows, wo, c]` = the mean of each 2x2 window of
 * src `[2 rows, 2 wo, c]`, ((a + b) + c + d) / 4; grad 1: dst `[2 rows, 2 wo, c]` = src `[rows, wo, c]` / 4
 * copied to each pixel of its window (the pool's gradient).
 */
function pool2Func(): Func {
  const [SRC, DST, ROWS, WO, CB, GRAD] = [0, 1, 2, 3, 4, 5];
  const [R, J, K, BIG, SMALL, RB, QUART, VAL] = [6, 7, 8, 9, 10, 11, 12, 13];
  // BIG walks the full-size image (two rows at a time), SMALL the pooled one
  const at = (base: number, off: number[]) => [...get(base), ...off, ...get(K), ...I32_ADD];
  const right = [...get(CB), ...I32_ADD];
  const below = [...get(RB), ...I32_ADD];
  const windowLoads = [
    ...[...at(BIG, []), ...LOAD, ...at(BIG, right), ...LOAD, ...ADD],
    ...[...at(BIG, below), ...LOAD, ...ADD, ...at(BIG, [...below, ...get(CB), ...I32_ADD]), ...LOAD, ...ADD],
  ];
  const forward = [...at(SMALL, []), ...windowLoads, ...get(QUART), ...MUL, ...STORE];
  const backward = [
    ...[...at(SMALL, []), ...LOAD, ...get(QUART), ...MUL, ...set(VAL)],
    ...[...at(BIG, []), ...get(VAL), ...STORE, ...at(BIG, right), ...get(VAL), ...STORE],
    ...[...at(BIG, below), ...get(VAL), ...STORE],
    ...[...at(BIG, [...below, ...get(CB), ...I32_ADD]), ...get(VAL), ...STORE],
  ];
  return {
    name: 'pool2',
    params: new Array<number>(6).fill(I32),
    locals: [
      [6, I32],
      [2, V128],
    ],
    body: [
      ...[...f32Const(0.25), ...SPLAT, ...set(QUART)],
      ...[...get(WO), ...get(CB), ...I32_MUL, ...i32Const(2), ...I32_MUL, ...set(RB)],
      ...[...get(GRAD), 0x04, 0x40, ...get(DST), ...set(BIG), ...get(SRC), ...set(SMALL)],
      ...[0x05, ...get(SRC), ...set(BIG), ...get(DST), ...set(SMALL), 0x0b], // else, end
      ...doWhile(R, i32Const(1), ROWS, [
        ...[...i32Const(0), ...set(J)],
        ...doWhile(J, i32Const(1), WO, [
          ...[...i32Const(0), ...set(K)],
          ...[...get(GRAD), 0x04, 0x40, ...doWhile(K, i32Const(16), CB, backward)],
          ...[0x05, ...doWhile(K, i32Const(16), CB, forward), 0x0b],
          ...addTo(BIG, [...get(CB), ...i32Const(2), ...I32_MUL]),
          ...addTo(SMALL, get(CB)),
        ]),
        ...addTo(BIG, get(RB)), // past the window's second row
      ]),
    ],
  };
}

/** Tile edge of {@link transposeFunc}: both sides of the matrix must be multiples of it. */
export const TRANSPOSE_TILE = 16;

/**
 * `transpose(src, dst, rows, cols)`: dst `[cols, rows]` = srcᵀ, src `[rows, cols]`, both sides multiples
 * of {@link TRANSPOSE_TILE}, copied tile by tile so that reads and writes both stay in cache (wasm's own
 * Transpose walks whole rows: 5-10x slower on shapes such as 768x192 and 512x512).
 */
function transposeFunc(): Func {
  const [SRC, DST, ROWS, COLS] = [0, 1, 2, 3];
  const [I0, J0, I, J, SP, DP, RB, CB, IEND, TILE] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const body = [
    ...[
      ...get(COLS),
      ...i32Const(4),
      ...I32_MUL,
      ...set(RB),
      ...get(ROWS),
      ...i32Const(4),
      ...I32_MUL,
      ...set(CB),
    ],
    ...[...i32Const(TRANSPOSE_TILE), ...set(TILE)],
    ...doWhile(I0, i32Const(TRANSPOSE_TILE), ROWS, [
      ...[...i32Const(0), ...set(J0)],
      ...doWhile(J0, i32Const(TRANSPOSE_TILE), COLS, [
        ...[...get(I0), ...set(I), ...get(I0), ...i32Const(TRANSPOSE_TILE), ...I32_ADD, ...set(IEND)],
        ...doWhile(I, i32Const(1), IEND, [
          ...[...get(SRC), ...get(I), ...get(RB), ...I32_MUL, ...I32_ADD],
          ...[...get(J0), ...i32Const(4), ...I32_MUL, ...I32_ADD, ...set(SP)],
          ...[...get(DST), ...get(J0), ...get(CB), ...I32_MUL, ...I32_ADD],
          ...[...get(I), ...i32Const(4), ...I32_MUL, ...I32_ADD, ...set(DP)],
          ...[...i32Const(0), ...set(J)],
          ...doWhile(J, i32Const(1), TILE, [
            ...[...get(DP), ...get(SP), ...F32_LOAD, ...F32_STORE],
            ...addTo(SP, i32Const(4)),
            ...addTo(DP, get(CB)),
          ]),
        ]),
      ]),
    ]),
  ];
  return { name: 'transpose', params: new Array<number>(4).fill(I32), locals: [[10, I32]], body };
}

/** `v128.load` / `v128.store` / `v128.load32_splat` at a constant byte offset from the address on the stack. */
const loadAt = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const storeAt = (offset: number) => [...simd(0x0b), 0, ...uleb(offset)];
const splatAt = (offset: number) => [...simd(0x09), 0, ...uleb(offset)];

/** Shape of a weight-gradient loop ({@link wgradFunc}). */
export interface WgradSpec {
  /** Kernel side (odd; 1 = a dense layer). */
  k: number;
  cin: number;
  /** Output channels, a multiple of 4 (one SIMD lane each). */
  cout: number;
}

/**
 * Register blocking of {@link wgradFunc}: input channels `cb` and output vectors `vb` (4 channels each)
 * whose `k * cb * vb` accumulators, the `vb` vectors of dY and one splat stay in the 16 SIMD registers
 * of x64 (V8 keeps one or two for itself): at most 10 accumulators.
 */
export function wgradBlocks(spec: WgradSpec): { cb: number; vb: number } {
  const cv = spec.cout / 4;
  const vb = cv % 2 === 0 ? 2 : 1;
  let cb = 1;
  for (let c = spec.cin; c >= 1; c--)
    if (spec.cin % c === 0 && spec.k * c * vb <= 10) {
      cb = c;
      break;
    }
  return { cb, vb };
}

/**
 * `wgrad(x, dy, dw, n, h, w)`: the weight gradient of a stride-1 k x k convolution ('same', k odd,
 * r = (k - 1) / 2, zeros outside the image),
 *   dw[ky, kx, ci, co] = sum over (img, y, x) of x[img, y + ky - r, x + kx - r, ci] * dy[img, y, x, co]
 * for x `[n, h, w, cin]`, dy `[n, h, w, cout]` and dw `[k, k, cin, cout]`, with w > 2r. k = 1 is a
 * dense layer's `xᵀ · dy` (any split of the rows into h rows of w pixels). Code is generated per shape:
 * the loop over a row's pixels keeps `k * cb * vb` accumulators (all kx taps of one ky, a block of input
 * channels, a block of output vectors) in registers, so each dY vector loaded serves `k * cb` products;
 * the accumulators go back to memory after each row and block, whose data is then still in cache for
 * the next block. The r pixels at each end of a row, whose taps leave the image, follow the row's interior with
 * only their valid taps, and a source row outside the image is skipped: x needs no padded copy. The sum
 * over pixels runs in float32, row by row.
 */
function wgradFunc(spec: WgradSpec): Func {
  const { k, cin, cout } = spec;
  const r = (k - 1) / 2;
  const { cb: CB, vb: VB } = wgradBlocks(spec);
  const [X, DY, DW, N, H, W] = [0, 1, 2, 3, 4, 5];
  const [IMG, Y, XROW, DYROW, XPTR, DPTR, DEND, RBX, RBD, XS] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  // the channel block's byte offsets (c0 into an x pixel, v0 into a dY pixel) and the bases they move
  const [C0, V0, DWB, XSC, DYRV, DENDV, LIMC, LIMV] = [16, 17, 18, 19, 20, 21, 22, 23];
  const nAcc = k * CB * VB;
  const ACC = (kx: number, ci: number, v: number) => 24 + (kx * CB + ci) * VB + v;
  const DYV = (v: number) => 24 + nAcc + v;
  const S = 24 + nAcc + VB;
  const code: number[] = [];
  const emit = (...parts: number[][]) => append(code, ...parts);
  /**
   * One pixel's products for the taps kx in [kx0, kx1]: dY's vectors at `dBase + dOff`, x's value of tap
   * kx, block channel ci at `xBase + xOff(kx) + 4 ci`.
   */
  const pixel = (
    dBase: number,
    dOff: number,
    xBase: number,
    xOff: (kx: number) => number,
    kx0: number,
    kx1: number,
  ) => {
    const out: number[] = [];
    for (let v = 0; v < VB; v++) append(out, get(dBase), loadAt(dOff + v * 16), set(DYV(v)));
    for (let kx = kx0; kx <= kx1; kx++)
      for (let ci = 0; ci < CB; ci++) {
        append(out, get(xBase), splatAt(xOff(kx) + ci * 4), set(S));
        for (let v = 0; v < VB; v++)
          append(out, get(ACC(kx, ci, v)), get(S), get(DYV(v)), MUL, ADD, set(ACC(kx, ci, v)));
      }
    return out;
  };
  const accs = (ky: number, f: (local: number, offset: number) => number[]) => {
    const out: number[] = [];
    for (let kx = 0; kx < k; kx++)
      for (let ci = 0; ci < CB; ci++)
        for (let v = 0; v < VB; v++)
          append(out, f(ACC(kx, ci, v), ((ky * k + kx) * cin + ci) * cout * 4 + v * 16));
    return out;
  };
  const rows: number[][] = [];
  for (let ky = 0; ky < k; ky++) {
    const block = cat(
      [
        ...get(DW),
        ...get(C0),
        ...i32Const(cout),
        ...I32_MUL,
        ...I32_ADD,
        ...get(V0),
        ...I32_ADD,
        ...set(DWB),
      ],
      [...get(XS), ...get(C0), ...I32_ADD, ...set(XSC)],
      [
        ...get(DYROW),
        ...get(V0),
        ...I32_ADD,
        ...set(DYRV),
        ...get(DEND),
        ...get(V0),
        ...I32_ADD,
        ...set(DENDV),
      ],
      accs(ky, (acc, off) => [...get(DWB), ...loadAt(off), ...set(acc)]),
      // interior pixels x in [r, w - r): XPTR at x's source row + (x - r) pixels, all taps
      [...get(XSC), ...set(XPTR), ...get(DYRV), ...i32Const(r * cout * 4), ...I32_ADD, ...set(DPTR)],
      doWhile(
        DPTR,
        i32Const(cout * 4),
        DENDV,
        cat(
          pixel(DPTR, 0, XPTR, (kx) => kx * cin * 4, 0, k - 1),
          addTo(XPTR, i32Const(cin * 4)),
        ),
      ),
      // edge pixels x = e (left) and x = w - 1 - e (right), e < r: the taps that stay in the row
      ...Array.from({ length: r }, (_, e) =>
        cat(
          pixel(DYRV, e * cout * 4, XSC, (kx) => (e - r + kx) * cin * 4, r - e, k - 1),
          pixel(DENDV, (r - 1 - e) * cout * 4, XPTR, (kx) => (r - 1 - e + kx) * cin * 4, 0, r + e),
        ),
      ),
      accs(ky, (acc, off) => [...get(DWB), ...get(acc), ...storeAt(off)]),
    );
    const group = cat(
      // source row y + ky - r of this image, and the end of the interior of the dY row
      [...get(XROW), ...get(RBX), ...i32Const(ky - r), ...I32_MUL, ...I32_ADD, ...set(XS)],
      [...get(DYROW), ...get(RBD), ...I32_ADD, ...i32Const(r * cout * 4), ...I32_SUB, ...set(DEND)],
      // blocks of input channels (C0 in bytes of x) and of output vectors (V0 in bytes of dY)
      [...i32Const(0), ...set(C0)],
      doWhile(
        C0,
        i32Const(CB * 4),
        LIMC,
        cat([...i32Const(0), ...set(V0)], doWhile(V0, i32Const(VB * 16), LIMV, block)),
      ),
    );
    // a source row outside the image (y + ky - r < 0 or >= h, as unsigned) adds nothing
    const inside = [...get(Y), ...i32Const(ky - r), ...I32_ADD, ...get(H), ...I32_LT_U];
    rows.push(ky === r ? group : cat(inside, [0x04, 0x40], group, 0x0b));
  }
  const dwBytes = k * k * cin * cout * 4;
  emit(
    // zero dw
    [...i32Const(0), ...set(XPTR), ...i32Const(dwBytes), ...set(DEND)],
    doWhile(XPTR, i32Const(16), DEND, [...get(DW), ...get(XPTR), ...I32_ADD, ...ZERO, ...STORE]),
    // bytes per row of x and of dY, and per pixel (the block loops' limits)
    [
      ...get(W),
      ...i32Const(cin * 4),
      ...I32_MUL,
      ...set(RBX),
      ...get(W),
      ...i32Const(cout * 4),
      ...I32_MUL,
      ...set(RBD),
    ],
    [...i32Const(cin * 4), ...set(LIMC), ...i32Const(cout * 4), ...set(LIMV)],
    [...get(X), ...set(XROW), ...get(DY), ...set(DYROW)],
    doWhile(
      IMG,
      i32Const(1),
      N,
      cat(
        [...i32Const(0), ...set(Y)],
        doWhile(Y, i32Const(1), H, cat(...rows, addTo(DYROW, get(RBD)), addTo(XROW, get(RBX)))),
      ),
    ),
  );
  return {
    name: 'wgrad',
    params: new Array<number>(6).fill(I32),
    locals: [
      [18, I32],
      [nAcc + VB + 1, V128],
    ],
    body: code,
  };
}

/** Shape of a convolution loop ({@link convFunc}). */
export interface ConvSpec {
  /** Kernel side (odd). */
  k: number;
  cin: number;
  /** Output channels, a multiple of 4. */
  cout: number;
  /** Whether the outputs start from a bias (else from zero). */
  bias: boolean;
  /** Whether the outputs are stored through max(y, 0) (a relu fused into the store; absent: no). */
  relu?: boolean;
}

/** Output pixels of a row computed together by {@link convFunc} (with 2 output vectors: 8 accumulators). */
const CONV_PIXELS = 4;

/**
 * `conv(x, w, b, y, n, h, w)`: a stride-1 k x k 'same' convolution (zeros outside the image) of x
 * `[n, h, w, cin]` with w `[k, k, cin, cout]` plus b `[cout]` (when `spec.bias`) into y `[n, h, w, cout]`,
 * for w > 2r. Code is generated per shape, like {@link wgradFunc}: blocks of CONV_PIXELS output pixels
 * times `vb` output vectors accumulate in registers over all taps and input channels, each weight vector
 * loaded serving every pixel of the block. Taps are unrolled, input channels a runtime loop (unrolled
 * too, the code grew past the instruction cache and ran 2-4x slower at 8-32 channels). The r pixels at
 * each end of a row (and the interior pixels left over by the blocks) go one at a time, with only the
 * taps inside the image; source rows outside the image are skipped.
 */
function convFunc(spec: ConvSpec): Func {
  const { k, cin, cout, bias } = spec;
  const r = (k - 1) / 2;
  const PB = CONV_PIXELS;
  const VB = (cout / 4) % 2 === 0 ? 2 : 1;
  const [X, WT, B, YO, N, H, W] = [0, 1, 2, 3, 4, 5, 6];
  const [IMG, YY, XROW, YROW, RBX, RBY, V0, LIMV, WB, XO, YP, YEND, XK, XRIGHT, CNT, WP, XP, XEND] =
    Array.from({ length: 18 }, (_, i) => 7 + i);
  const ACC = (p: number, v: number) => 25 + p * VB + v;
  const WV = (v: number) => 25 + PB * VB + v;
  const S = 25 + PB * VB + VB;
  const wOff = (ky: number, kx: number, ci: number, v: number) =>
    ((ky * k + kx) * cin + ci) * cout * 4 + v * 16;
  const ifRow = (ky: number, body: number[]) =>
    ky === r
      ? body
      : cat([...get(YY), ...i32Const(ky - r), ...I32_ADD, ...get(H), ...I32_LT_U, 0x04, 0x40], body, 0x0b);
  // XK = the source row ky's start plus `xOff` (a local or nothing)
  const rowBase = (ky: number, xOff: number | null) => [
    ...[...get(XROW), ...get(RBX), ...i32Const(ky - r), ...I32_MUL, ...I32_ADD],
    ...(xOff === null ? [] : [...get(xOff), ...I32_ADD]),
    ...set(XK),
  ];
  /**
   * Accumulate `pixels` output pixels over the taps kx in [kx0, kx1] of every source row: pixel p's tap kx
   * of channel ci is at `XK + xOff(p, kx) + 4 ci` once XK holds the row (plus `xLocal`).
   */
  const taps = (
    pixels: number,
    xLocal: number | null,
    xOff: (p: number, kx: number) => number,
    kx0: number,
    kx1: number,
  ) => {
    const rows: number[][] = [];
    for (let ky = 0; ky < k; ky++) {
      const body: number[][] = [rowBase(ky, xLocal)];
      for (let kx = kx0; kx <= kx1; kx++) {
        // input channels as a runtime loop: WP walks the weights of tap (ky, kx), XP the first pixel's channels
        body.push(cat(get(WB), i32Const(wOff(ky, kx, 0, 0)), I32_ADD, set(WP)));
        body.push(cat(get(XK), i32Const(xOff(0, kx)), I32_ADD, set(XP)));
        body.push(cat(get(XP), i32Const(cin * 4), I32_ADD, set(XEND)));
        const step: number[] = [];
        for (let v = 0; v < VB; v++) append(step, get(WP), loadAt(v * 16), set(WV(v)));
        for (let p = 0; p < pixels; p++) {
          append(step, get(XP), splatAt(xOff(p, kx) - xOff(0, kx)), set(S));
          for (let v = 0; v < VB; v++)
            append(step, get(ACC(p, v)), get(S), get(WV(v)), MUL, ADD, set(ACC(p, v)));
        }
        append(step, get(WP), i32Const(cout * 4), I32_ADD, set(WP));
        body.push(doWhile(XP, i32Const(4), XEND, step));
      }
      rows.push(ifRow(ky, cat(...body)));
    }
    return cat(...rows);
  };
  const init = (pixels: number) => {
    const out: number[] = [];
    for (let p = 0; p < pixels; p++)
      for (let v = 0; v < VB; v++)
        append(out, bias ? [...get(B), ...get(V0), ...I32_ADD, ...loadAt(v * 16)] : ZERO, set(ACC(p, v)));
    return out;
  };
  // store `pixels` outputs at `base` (a local) + off + p cout*4
  const store = (pixels: number, base: number, off: number) => {
    const out: number[] = [];
    for (let p = 0; p < pixels; p++)
      for (let v = 0; v < VB; v++)
        append(
          out,
          get(base),
          get(ACC(p, v)),
          spec.relu ? [...ZERO, ...simd(0xe9)] : [], // f32x4.max
          storeAt(off + p * cout * 4 + v * 16),
        );
    return out;
  };
  const perBlock = cat(
    // WB: the weights of this output block; YP: output pixel r of the row; XO: its source offset 0
    [...get(WT), ...get(V0), ...I32_ADD, ...set(WB)],
    [...get(YROW), ...get(V0), ...I32_ADD, ...set(YEND)],
    [...get(YEND), ...i32Const(r * cout * 4), ...I32_ADD, ...set(YP), ...i32Const(0), ...set(XO)],
    // interior blocks of PB pixels: CNT = (w - 2r) / PB of them
    [...get(W), ...i32Const(2 * r), ...I32_SUB, ...i32Const(PB), ...I32_DIV_U, ...set(CNT)],
    [...get(CNT), 0x04, 0x40],
    [...get(CNT), ...i32Const(PB * cout * 4), ...I32_MUL, ...get(YP), ...I32_ADD, ...set(CNT)], // CNT: end of the blocks
    doWhile(
      YP,
      i32Const(PB * cout * 4),
      CNT,
      cat(
        init(PB),
        taps(PB, XO, (p, kx) => (p + kx) * cin * 4, 0, k - 1),
        store(PB, YP, 0),
        addTo(XO, i32Const(PB * cin * 4)),
      ),
    ),
    0x0b,
    // interior pixels left over, one at a time, up to output pixel w - r
    [
      ...get(YEND),
      ...get(W),
      ...i32Const(r),
      ...I32_SUB,
      ...i32Const(cout * 4),
      ...I32_MUL,
      ...I32_ADD,
      ...set(CNT),
    ],
    [...get(YP), ...get(CNT), ...I32_LT_U, 0x04, 0x40],
    doWhile(
      YP,
      i32Const(cout * 4),
      CNT,
      cat(
        init(1),
        taps(1, XO, (_, kx) => kx * cin * 4, 0, k - 1),
        store(1, YP, 0),
        addTo(XO, i32Const(cin * 4)),
      ),
    ),
    0x0b,
    // edge pixels x = e (left) and x = w - 1 - e (right), e < r: only the taps inside the row
    ...Array.from({ length: r }, (_, e) =>
      cat(
        init(1),
        taps(1, null, (_, kx) => (e - r + kx) * cin * 4, r - e, k - 1),
        store(1, YEND, e * cout * 4),
        init(1),
        taps(1, XRIGHT, (_, kx) => (r - e + kx) * cin * 4, 0, r + e),
        [
          ...get(YEND),
          ...get(W),
          ...i32Const(1 + e),
          ...I32_SUB,
          ...i32Const(cout * 4),
          ...I32_MUL,
          ...I32_ADD,
        ],
        set(CNT),
        store(1, CNT, 0),
      ),
    ),
  );
  return {
    name: 'conv',
    params: new Array<number>(7).fill(I32),
    locals: [
      [18, I32],
      [PB * VB + VB + 1, V128],
    ],
    body: cat(
      [
        ...get(W),
        ...i32Const(cin * 4),
        ...I32_MUL,
        ...set(RBX),
        ...get(W),
        ...i32Const(cout * 4),
        ...I32_MUL,
        ...set(RBY),
      ],
      [...get(W), ...i32Const(k), ...I32_SUB, ...i32Const(cin * 4), ...I32_MUL, ...set(XRIGHT)],
      [...i32Const(cout * 4), ...set(LIMV), ...get(X), ...set(XROW), ...get(YO), ...set(YROW)],
      doWhile(
        IMG,
        i32Const(1),
        N,
        cat(
          [...i32Const(0), ...set(YY)],
          doWhile(
            YY,
            i32Const(1),
            H,
            cat([...i32Const(0), ...set(V0)], doWhile(V0, i32Const(VB * 16), LIMV, perBlock), [
              ...addTo(XROW, get(RBX)),
              ...addTo(YROW, get(RBY)),
            ]),
          ),
        ),
      ),
    ),
  };
}

/** A module of `funcs` importing `env.memory`. */
function assemble(funcs: Func[]): Uint8Array {
  const types = funcs.map((f) => [
    0x60,
    ...vec(f.params.map((t) => [t])),
    ...vec((f.results ?? []).map((t) => [t])),
  ]);
  const codes = funcs.map((f) => {
    const code = cat(vec(f.locals.map(([n, t]) => [...uleb(n), t])), f.body, 0x0b);
    return cat(uleb(code.length), code);
  });
  return Uint8Array.from(
    cat(
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      section(1, vec(types)),
      section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])), // memory, min 1 page
      section(3, vec(funcs.map((_, i) => uleb(i)))),
      section(7, vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
      section(10, vec(codes)),
    ),
  );
}

/** A SIMD loop: byte offsets, counts and constants as its builder above says. */
export type SimdLoop = (...args: number[]) => void;

/**
 * The loops (see adamwFunc, bmmFunc, bmmtFunc, transposeFunc, colsumFunc, reluGradFunc, swapMiddleFunc,
 * bceFunc, vsumFunc, pool2Func).
 */
export interface SimdLoops {
  adamw: SimdLoop;
  bmm: SimdLoop;
  bmmt: SimdLoop;
  transpose: SimdLoop;
  colsum: SimdLoop;
  relugrad: SimdLoop;
  swapmid: SimdLoop;
  /** Returns the weighted loss sum of its groups (see bceFunc). */
  bce: (...args: number[]) => number;
  /** Returns the sum (see vsumFunc). */
  vsum: (...args: number[]) => number;
  pool2: SimdLoop;
}

/** The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let cached: { memory: object; loops: SimdLoops } | null | undefined;

/** The SIMD loops on the active wasm backend's heap, or null (another backend, or no wasm SIMD). */
export function wasmSimd(): SimdLoops | null {
  if (tf.getBackend() !== 'wasm') return null;
  const memory = (tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!(memory instanceof WA.Memory)) return null;
  if (cached === undefined || (cached && cached.memory !== memory)) {
    try {
      const mod = new WA.Module(
        assemble([
          adamwFunc(),
          bmmFunc(),
          bmmtFunc(),
          transposeFunc(),
          colsumFunc(),
          reluGradFunc(),
          swapMiddleFunc(),
          bceFunc(),
          vsumFunc(),
          pool2Func(),
        ]),
      );
      const inst = new WA.Instance(mod, { env: { memory } });
      cached = { memory, loops: inst.exports as unknown as SimdLoops };
    } catch {
      cached = null; // no SIMD in this engine: callers use their JS loop
    }
  }
  return cached ? cached.loops : null;
}

/** Loops generated per shape, by key, with the heap they were instantiated on. */
const generated = new Map<string, { memory: object; loop: SimdLoop }>();

/**
 * The single function `make()` returns, assembled and instantiated on the active wasm backend's heap
 * (once per key and heap: a new heap, e.g. another backend instance, instantiates again).
 */
function generatedLoop(key: string, make: () => Func): SimdLoop {
  const memory = cached!.memory;
  const hit = generated.get(key);
  if (hit && hit.memory === memory) return hit.loop;
  const func = make();
  const inst = new WA.Instance(new WA.Module(assemble([func])), { env: { memory } });
  const loop = inst.exports[func.name] as SimdLoop;
  generated.set(key, { memory, loop });
  return loop;
}

/**
 * The weight-gradient loop ({@link wgradFunc}) generated for `spec` on the active wasm backend's heap,
 * or null (another backend, no wasm SIMD, or a `cout` that is not a multiple of 4).
 */
export function wgradLoop(spec: WgradSpec): SimdLoop | null {
  if (spec.cout % 4 !== 0 || spec.k % 2 !== 1 || !wasmSimd()) return null;
  return generatedLoop(`wgrad/${spec.k}/${spec.cin}/${spec.cout}`, () => wgradFunc(spec));
}

/**
 * The convolution loop ({@link convFunc}) generated for `spec` on the active wasm backend's heap, or
 * null (another backend, no wasm SIMD, or a `cout` that is not a multiple of 4).
 */
export function convLoop(spec: ConvSpec): SimdLoop | null {
  if (spec.cout % 4 !== 0 || spec.k % 2 !== 1 || !wasmSimd()) return null;
  const key = `conv/${spec.k}/${spec.cin}/${spec.cout}/${spec.bias}/${spec.relu === true}`;
  return generatedLoop(key, () => convFunc(spec));
}

/**
 * A stride-1 'same' k x k convolution of channels-last images `[n, h, w, cin]` by the generated loop,
 * inside a kernel body: filter `[.., cin, cout]` (any leading shape: a dense layer's `[cin, cout]` is the
 * 1x1 case with its rows as one row of pixels), optional bias `[cout]`, output of `outShape`. Null
 * where the loop does not apply (another backend, no SIMD, dtype, `cout` not a multiple of 4): the
 * caller runs its backend kernel. `relu`: outputs max(y, 0).
 */
export function runConvLoop(
  inputs: { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo | undefined },
  k: number,
  [n, h, w]: [number, number, number],
  outShape: number[],
  relu = false,
): tf.TensorInfo | null {
  const { x, filter, bias } = inputs;
  const cin = x.shape[x.shape.length - 1]!;
  const cout = filter.shape[filter.shape.length - 1]!;
  const mem = x.dtype === 'float32' ? activeJsMemory() : null;
  const loop = mem ? convLoop({ k, cin, cout, bias: bias !== undefined, relu }) : null;
  if (!mem || !loop) return null;
  const out = mem.output(outShape);
  const at = (t: tf.TensorInfo) => mem.view(t).byteOffset;
  loop(at(x), at(filter), bias ? at(bias) : 0, at(out), n, h, w);
  return out;
}

/** The wasm heap as a kernel over these loops sees it: new outputs, and tensors' byte offsets. */
export interface WasmHeap {
  output(shape: number[]): tf.TensorInfo;
  /** Where a tensor's data starts (does not move when the heap grows; typed views would detach). */
  offset(t: tf.TensorInfo): number;
}

/** A kernel body over the loops: named inputs and attrs -> its output. */
export type SimdKernelFunc = (
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
  loops: SimdLoops,
  heap: WasmHeap,
) => tf.TensorInfo;

/**
 * Register `kernelName` on the wasm backend (once), as a JS kernel over the heap (js-kernel.ts) that
 * calls the loops; false, registering nothing, without the loops.
 */
export function ensureSimdKernel(kernelName: string, body: SimdKernelFunc): boolean {
  const loops = wasmSimd();
  if (!loops) return false;
  return ensureJsKernel(kernelName, (inputs, attrs, mem) =>
    body(inputs, attrs, loops, { output: mem.output, offset: (t) => mem.view(t).byteOffset }),
  );
}

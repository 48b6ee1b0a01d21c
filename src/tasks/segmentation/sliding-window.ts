import type { Shape3 } from '../../data/types.js';
import { InputError } from '../../core/errors.js';

/*
 * Whole-volume inference by sliding windows with overlap and smooth blending. Windows tile the volume
 * with a stride of window * (1 - overlap); the last window on each axis is shifted back to end at the
 * border; a volume smaller than the window on an axis is edge-padded (replicated) to the
 * window. Each output voxel is the weighted mean of the windows covering it, weights falling smoothly
 * towards window borders (a separable raised-cosine ramp), so seams do not show.
 *
 * Streaming: the volume is done in in-plane tiles (columns through z); in a tile, one row of windows
 * (same z start) at a time, after which the sections no later row reaches are final and go to the sink.
 * Memory is a tile's accumulator (window depth x tile) and one row's input, whatever the volume's size.
 * A window that overlaps two tiles is predicted for each (about 13 % more windows at the default tile
 * of 512 and windows of 64 at overlap 0.5); every voxel still sums the same windows in the same order
 * (z, y, x of their origin) as one pass over the whole volume would, so the values do not depend on the
 * tile size as long as the predictor treats each window of a batch on its own.
 */

/** Predicts a batch of windows: input `[n, d, h, w]`, output `[n, channels, d, h, w]`. */
export type WindowPredictor = (windows: Float32Array, n: number) => Float32Array | Promise<Float32Array>;

export interface SlidingWindowOptions {
  /** Window shape (z, y, x), usually the model's crop. */
  window: Shape3;
  /** Output channels of the predictor (3 for affinities). */
  channels: number;
  /** Fraction of overlap between neighbouring windows on each axis, in [0, 0.9]. Default 0.5. */
  overlap?: number;
  /** Windows per predictor call. Default 4. */
  batch?: number;
  /** In-plane tile (y and x, voxels) of the streaming pass; bounds memory. Default 512. */
  tile?: number;
  /** Called after each batch with (windows done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** A box of the volume: offset and size (z, y, x). */
export interface Block {
  offset: Shape3;
  size: Shape3;
}

/** Reads a block of the input volume (always inside the volume) as `[d, h, w]` float32. */
export type BlockSource = (block: Block) => Float32Array | Promise<Float32Array>;

/** Receives a finished block of the output, `[channels, d, h, w]` float32. */
export type BlockSink = (block: Block, data: Float32Array) => void | Promise<void>;

/** Start offsets along one axis covering [0, size) with windows of `win` and the given stride. */
export function windowStarts(size: number, win: number, overlap: number): number[] {
  if (size <= win) return [0];
  const stride = Math.max(1, Math.round(win * (1 - overlap)));
  const starts: number[] = [];
  for (let s = 0; s + win < size; s += stride) starts.push(s);
  starts.push(size - win);
  return starts;
}

/** 1D blending ramp of length n: raised cosine, never 0 (so border voxels of the volume keep weight). */
export function blendRamp(n: number): Float32Array {
  const r = new Float32Array(n);
  for (let i = 0; i < n; i++) r[i] = 0.05 + 0.95 * Math.sin((Math.PI * (i + 0.5)) / n) ** 2;
  return r;
}

/**
 * Predict a `[D, H, W]` volume window by window.
 * @returns `[channels, D, H, W]` float32
 */
export async function slidingWindowPredict(
  volume: Float32Array,
  shape: Shape3,
  predict: WindowPredictor,
  opts: SlidingWindowOptions,
): Promise<Float32Array> {
  const [D, H, W] = shape;
  if (volume.length !== D * H * W)
    throw new InputError(
      `sliding window: volume has ${volume.length} voxels, shape [${shape}] needs ${D * H * W}`,
    );
  const n = D * H * W;
  const out = new Float32Array(opts.channels * n);
  await slidingWindowStream(
    shape,
    ({ offset, size }) => copyBlock(volume, shape, offset, size),
    predict,
    ({ offset, size }, data) => {
      const bn = size[0] * size[1] * size[2];
      for (let c = 0; c < opts.channels; c++)
        for (let z = 0; z < size[0]; z++)
          for (let y = 0; y < size[1]; y++) {
            const src = c * bn + (z * size[1] + y) * size[2];
            const dst = c * n + ((offset[0] + z) * H + offset[1] + y) * W + offset[2];
            out.set(data.subarray(src, src + size[2]), dst);
          }
    },
    opts,
  );
  return out;
}

/** A block of a `[D, H, W]` volume as its own array. */
function copyBlock(volume: Float32Array, shape: Shape3, offset: Shape3, size: Shape3): Float32Array {
  const [, H, W] = shape;
  const out = new Float32Array(size[0] * size[1] * size[2]);
  for (let z = 0; z < size[0]; z++)
    for (let y = 0; y < size[1]; y++) {
      const src = ((offset[0] + z) * H + offset[1] + y) * W + offset[2];
      out.set(volume.subarray(src, src + size[2]), (z * size[1] + y) * size[2]);
    }
  return out;
}

/**
 * Predict a volume of `shape` window by window, reading the input through `source` and handing each
 * finished block of the output (`[channels, ...]`, sections z0..z1 of one in-plane tile) to `sink`, in
 * order of tiles, then z. Peak memory depends on the window and tile sizes, not on the volume.
 */
export async function slidingWindowStream(
  shape: Shape3,
  source: BlockSource,
  predict: WindowPredictor,
  sink: BlockSink,
  opts: SlidingWindowOptions,
): Promise<void> {
  const [D, H, W] = shape;
  const [wd, wh, ww] = opts.window;
  const C = opts.channels;
  const overlap = opts.overlap ?? 0.5;
  if (!(overlap >= 0 && overlap <= 0.9))
    throw new InputError(`sliding window: overlap ${overlap} is outside [0, 0.9]`);
  if (![D, H, W].every((s) => Number.isInteger(s) && s > 0))
    throw new InputError(`sliding window: volume shape must be 3 positive integers, got [${shape}]`);
  const tile = opts.tile ?? 512;
  if (!(Number.isInteger(tile) && tile > 0))
    throw new InputError(`sliding window: tile must be a positive integer, got ${tile}`);
  const batch = Math.max(1, opts.batch ?? 4);
  // Pad (edge-replicate) axes smaller than the window.
  const zs = windowStarts(Math.max(D, wd), wd, overlap);
  const ys = windowStarts(Math.max(H, wh), wh, overlap);
  const xs = windowStarts(Math.max(W, ww), ww, overlap);
  const rz = blendRamp(wd);
  const ry = blendRamp(wh);
  const rx = blendRamp(ww);
  const winSize = wd * wh * ww;
  const tiles: [number, number][] = [];
  for (let ty = 0; ty < H; ty += tile) for (let tx = 0; tx < W; tx += tile) tiles.push([ty, tx]);
  // Window starts whose window reaches into [lo, hi).
  const touching = (starts: number[], win: number, lo: number, hi: number): number[] =>
    starts.filter((s) => s < hi && s + win > lo);
  const total = tiles.reduce(
    (a, [ty, tx]) =>
      a +
      zs.length *
        touching(ys, wh, ty, Math.min(H, ty + tile)).length *
        touching(xs, ww, tx, Math.min(W, tx + tile)).length,
    0,
  );
  let done = 0;
  const depth = Math.min(D, wd); // sections a row of windows adds to
  for (const [ty, tx] of tiles) {
    const TY = Math.min(H, ty + tile) - ty;
    const TX = Math.min(W, tx + tile) - tx;
    const wy = touching(ys, wh, ty, ty + TY);
    const wx = touching(xs, ww, tx, tx + TX);
    const origins: [number, number][] = [];
    for (const y of wy) for (const x of wx) origins.push([y, x]);
    // Input rows and columns the tile's windows read (clamped into the volume: edge padding).
    const iy0 = wy[0]!;
    const iy1 = Math.min(H, wy[wy.length - 1]! + wh);
    const ix0 = wx[0]!;
    const ix1 = Math.min(W, wx[wx.length - 1]! + ww);
    const plane = TY * TX;
    const acc = new Float32Array(C * depth * plane); // [C, depth, TY, TX]; section 0 is z = base
    const wsum = new Float32Array(depth * plane);
    let base = 0;
    for (let i = 0; i < zs.length; i++) {
      const z0 = zs[i]!;
      const zEnd = Math.min(D, z0 + wd);
      const region: Block = { offset: [z0, iy0, ix0], size: [zEnd - z0, iy1 - iy0, ix1 - ix0] };
      const input = await source(region);
      const [, RH, RW] = region.size;
      for (let b0 = 0; b0 < origins.length; b0 += batch) {
        const chunk = origins.slice(b0, b0 + batch);
        const windows = new Float32Array(chunk.length * winSize);
        chunk.forEach(([y0, x0], k) => {
          for (let z = 0; z < wd; z++) {
            const sz = Math.min(zEnd - 1, z0 + z) - z0;
            for (let y = 0; y < wh; y++) {
              const src = (sz * RH + Math.min(H - 1, y0 + y) - iy0) * RW - ix0;
              const dst = k * winSize + (z * wh + y) * ww;
              for (let x = 0; x < ww; x++) windows[dst + x] = input[src + Math.min(W - 1, x0 + x)]!;
            }
          }
        });
        const pred = await predict(windows, chunk.length); // [n, C, wd, wh, ww]
        if (pred.length !== chunk.length * C * winSize)
          throw new InputError(
            `sliding window: predictor returned ${pred.length} values, expected ${chunk.length * C * winSize}`,
          );
        // Blend the part of each window inside the tile (and the volume) into the accumulator.
        chunk.forEach(([y0, x0], k) => {
          const ya = Math.max(y0, ty);
          const yb = Math.min(y0 + wh, ty + TY);
          const xa = Math.max(x0, tx);
          const xb = Math.min(x0 + ww, tx + TX);
          for (let z = 0; z < wd && z0 + z < D; z++) {
            const az = z0 + z - base;
            for (let y = ya; y < yb; y++) {
              const wzy = rz[z]! * ry[y - y0]!;
              for (let x = xa; x < xb; x++) {
                const wgt = wzy * rx[x - x0]!;
                const a = (az * TY + y - ty) * TX + x - tx;
                wsum[a]! += wgt;
                const p = ((k * C * wd + z) * wh + y - y0) * ww + x - x0;
                for (let c = 0; c < C; c++) acc[c * depth * plane + a]! += wgt * pred[p + c * winSize]!;
              }
            }
          }
        });
        done += chunk.length;
        opts.onProgress?.(done, total);
      }
      // Sections before the next row's start are final: normalize them and hand them over.
      const zFinal = i + 1 < zs.length ? zs[i + 1]! : D;
      const dz = zFinal - base;
      const block = new Float32Array(C * dz * plane);
      for (let c = 0; c < C; c++)
        for (let j = 0; j < dz * plane; j++)
          block[c * dz * plane + j] = acc[c * depth * plane + j]! / wsum[j]!;
      await sink({ offset: [base, ty, tx], size: [dz, TY, TX] }, block);
      // Move the pending sections to the front of the accumulator.
      for (let c = 0; c < C; c++) {
        const off = c * depth * plane;
        acc.copyWithin(off, off + dz * plane, off + depth * plane);
        acc.fill(0, off + (depth - dz) * plane, off + depth * plane);
      }
      wsum.copyWithin(0, dz * plane, depth * plane);
      wsum.fill(0, (depth - dz) * plane);
      base = zFinal;
    }
  }
}

import type { Shape3 } from '../../data/types.js';
import { InputError } from '../../core/errors.js';

/*
 * Whole-volume inference by sliding windows with overlap and smooth blending. Windows tile the volume
 * with a stride of window * (1 - overlap); the last window on each axis is shifted back to end at the
 * border; a volume smaller than the window on an axis is edge-padded (replicated) to the
 * window. Each output voxel is the weighted mean of the windows covering it, weights falling smoothly
 * towards window borders (a separable raised-cosine ramp), so seams do not show.
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
  /** Called after each batch with (windows done, total). */
  onProgress?: (done: number, total: number) => void;
}

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
  const [wd, wh, ww] = opts.window;
  const C = opts.channels;
  const overlap = opts.overlap ?? 0.5;
  if (!(overlap >= 0 && overlap <= 0.9))
    throw new InputError(`sliding window: overlap ${overlap} is outside [0, 0.9]`);
  if (volume.length !== D * H * W)
    throw new InputError(
      `sliding window: volume has ${volume.length} voxels, shape [${shape}] needs ${D * H * W}`,
    );
  const batch = Math.max(1, opts.batch ?? 4);
  // Pad (edge-replicate) axes smaller than the window.
  const [PD, PH, PW] = [Math.max(D, wd), Math.max(H, wh), Math.max(W, ww)];
  const zs = windowStarts(PD, wd, overlap);
  const ys = windowStarts(PH, wh, overlap);
  const xs = windowStarts(PW, ww, overlap);
  const rz = blendRamp(wd);
  const ry = blendRamp(wh);
  const rx = blendRamp(ww);
  const out = new Float32Array(C * D * H * W);
  const wsum = new Float32Array(D * H * W);
  const origins: Shape3[] = [];
  for (const z of zs) for (const y of ys) for (const x of xs) origins.push([z, y, x]);
  const winSize = wd * wh * ww;
  for (let b0 = 0; b0 < origins.length; b0 += batch) {
    const chunk = origins.slice(b0, b0 + batch);
    const input = new Float32Array(chunk.length * winSize);
    chunk.forEach(([z0, y0, x0], i) => {
      for (let z = 0; z < wd; z++) {
        const sz = Math.min(D - 1, z0 + z);
        for (let y = 0; y < wh; y++) {
          const sy = Math.min(H - 1, y0 + y);
          const src = (sz * H + sy) * W;
          const dst = i * winSize + (z * wh + y) * ww;
          for (let x = 0; x < ww; x++) input[dst + x] = volume[src + Math.min(W - 1, x0 + x)]!;
        }
      }
    });
    const pred = await predict(input, chunk.length); // [n, C, wd, wh, ww]
    if (pred.length !== chunk.length * C * winSize)
      throw new InputError(
        `sliding window: predictor returned ${pred.length} values, expected ${chunk.length * C * winSize}`,
      );
    chunk.forEach(([z0, y0, x0], i) => {
      for (let z = 0; z < wd && z0 + z < D; z++) {
        for (let y = 0; y < wh && y0 + y < H; y++) {
          const wzy = rz[z]! * ry[y]!;
          for (let x = 0; x < ww && x0 + x < W; x++) {
            const wgt = wzy * rx[x]!;
            const v = ((z0 + z) * H + (y0 + y)) * W + (x0 + x);
            wsum[v]! += wgt;
            for (let c = 0; c < C; c++)
              out[c * D * H * W + v]! += wgt * pred[((i * C + c) * wd + z) * wh * ww + y * ww + x]!;
          }
        }
      }
    });
    opts.onProgress?.(Math.min(origins.length, b0 + batch), origins.length);
  }
  const n = D * H * W;
  for (let c = 0; c < C; c++) for (let v = 0; v < n; v++) out[c * n + v]! /= wsum[v]!;
  return out;
}

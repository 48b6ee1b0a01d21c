import * as tf from '@tensorflow/tfjs';
import { avgPool2 } from './avg-pool2.js';
import { ConvInPlane } from './conv-inplane.js';
import { ConvTranspose3d } from './conv3d.js';
import { relu } from './relu.js';
import { ConfigError } from '../core/errors.js';
import type { ParamScope } from './params.js';

/*
 * A small in-plane (y, x) U-Net on the raw input, the affinity network's full-resolution path. The token
 * path sees 16 px patches; membranes are 2-5 px wide, and a boundary detector needs a field of view of
 * tens of pixels at full resolution to tell a faint membrane from texture. Level i runs at 1/2^i of the
 * in-plane resolution: 3x3 conv, 2x2 average pool, 3x3 conv, ...; the way up adds a learned 2x upsampling
 * (a non-overlapping transposed conv) of the coarser level to the skip features and convolves the sum.
 * Any in-plane size works (odd sizes pool with a ceil). Sums, not concats: a concat's gradient is slow in wasm. Sections stay separate (50 nm apart, 4 nm pixels).
 */

/** In-plane U-Net; `widths[i]` = channels at level i (level 0 = full resolution). */
export class InPlaneUNet {
  private readonly down: ConvInPlane[];
  private readonly up: ConvTranspose3d[];
  private readonly merge: ConvInPlane[];

  constructor(
    scope: ParamScope,
    readonly widths: number[],
  ) {
    if (widths.length === 0 || widths.some((c) => !(Number.isInteger(c) && c >= 1)))
      throw new ConfigError(
        `affinity net inPlaneChannels (in-plane U-Net widths): expected positive integers, got [${widths}]`,
      );
    this.down = widths.map(
      (c, i) => new ConvInPlane(scope.scope(`down/${i}`), i === 0 ? 1 : widths[i - 1]!, c, 3),
    );
    this.up = widths
      .slice(1)
      .map((c, i) => new ConvTranspose3d(scope.scope(`up/${i}`), c, widths[i]!, [1, 2, 2]));
    this.merge = widths.slice(0, -1).map((c, i) => new ConvInPlane(scope.scope(`merge/${i}`), c, c, 3));
  }

  /** Channels of the output (level 0). */
  get outCh(): number {
    return this.widths[0]!;
  }

  /**
   * `[b, d, h, w, 1]` (standardized raw) -> `[b, d, h, w, widths[0]]`. `inject` adds features (already
   * at that level's size and width) to level `inject.level` before its nonlinearity: the encoder's
   * tokens enter the way up there and are refined by every finer level's skip.
   */
  apply(x: tf.Tensor5D, inject?: { level: number; features: tf.Tensor5D }): tf.Tensor5D {
    const skips: tf.Tensor5D[] = [];
    let f = x;
    for (let i = 0; i < this.down.length; i++) {
      if (i > 0) f = pool2(f);
      if (inject?.level === i) {
        const pre = this.down[i]!.apply(f);
        f = relu(tf.add(pre, cropTo(inject.features, pre.shape)));
      } else f = this.down[i]!.apply(f, { relu: true }); // the relu fused into the conv
      skips.push(f);
    }
    for (let i = this.up.length - 1; i >= 0; i--) {
      const skip = skips[i]!;
      f = this.merge[i]!.apply(tf.add(skip, cropTo(this.up[i]!.apply(f), skip.shape)), { relu: true });
    }
    return f;
  }
}

/** 2x2 in-plane average pool of `[b, d, h, w, c]`; an odd size keeps its last row/column (ceil). */
function pool2(x: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const x4 = tf.reshape(x, [b * d, h, w, c]) as tf.Tensor4D;
  const odd = h % 2 === 1 || w % 2 === 1;
  const p = odd ? tf.avgPool(x4, 2, 2, 'same') : avgPool2(x4); // the even case has the fast backward
  return tf.reshape(p, [b, d, p.shape[1], p.shape[2], c]) as tf.Tensor5D;
}

/** The upsampled coarse level cut to its skip's in-plane size (they differ by one when that was odd). */
function cropTo(x: tf.Tensor5D, shape: number[]): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  if (h === shape[2] && w === shape[3]) return x;
  return tf.slice(x, [0, 0, 0, 0, 0], [b, d, shape[2]!, shape[3]!, c]);
}

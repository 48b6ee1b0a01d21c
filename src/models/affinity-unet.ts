import * as tf from '@tensorflow/tfjs';
import { ConvInPlane } from './conv-inplane.js';
import { ConvTranspose3d } from './conv3d.js';
import { ConfigError, InputError } from '../core/errors.js';
import type { ParamScope } from './params.js';

/*
 * A small in-plane (y, x) U-Net on the raw input, the affinity network's full-resolution path. The token
 * path sees 16 px patches; membranes are 2-5 px wide, and a boundary detector needs a field of view of
 * tens of pixels at full resolution to tell a faint membrane from texture. Level i runs at 1/2^i of the
 * in-plane resolution: 3x3 conv, 2x2 average pool, 3x3 conv, ...; the way up adds a learned 2x upsampling
 * (a non-overlapping transposed conv) of the coarser level to the skip features and convolves the sum.
 * Sums, not concats: a concat's gradient is slow in wasm. Sections stay separate (50 nm apart, 4 nm pixels).
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

  /** In-plane size must be divisible by this (one halving per level below the first). */
  get divisor(): number {
    return 2 ** (this.widths.length - 1);
  }

  /** `[b, d, h, w, 1]` (standardized raw) -> `[b, d, h, w, widths[0]]`. */
  apply(x: tf.Tensor5D): tf.Tensor5D {
    const [, , h, w] = x.shape;
    if (h % this.divisor !== 0 || w % this.divisor !== 0)
      throw new InputError(`in-plane U-Net: in-plane size ${h}x${w} must be divisible by ${this.divisor}`);
    const skips: tf.Tensor5D[] = [];
    let f = x;
    for (let i = 0; i < this.down.length; i++) {
      if (i > 0) f = pool2(f);
      f = tf.relu(this.down[i]!.apply(f));
      skips.push(f);
    }
    for (let i = this.up.length - 1; i >= 0; i--)
      f = tf.relu(this.merge[i]!.apply(tf.add(skips[i]!, this.up[i]!.apply(f))));
    return f;
  }
}

/** 2x2 in-plane average pool of `[b, d, h, w, c]`. */
function pool2(x: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const p = tf.avgPool(tf.reshape(x, [b * d, h, w, c]) as tf.Tensor4D, 2, 2, 'valid');
  return tf.reshape(p, [b, d, h / 2, w / 2, c]) as tf.Tensor5D;
}

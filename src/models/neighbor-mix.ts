import * as tf from '@tensorflow/tfjs';
import type { Shape3 } from '../data/types.js';
import { Dense } from './dense.js';
import type { ParamScope } from './params.js';

/*
 * Local context for the MIM decoder: every decoder row gets a learned linear map of its face neighbours'
 * rows on the patch grid (-1 and +1 along each axis the grid spans). Its input holds the encoded visible
 * tokens and zeros at masked patches, so a masked patch sees exactly its visible neighbours from the first
 * update on. Attention alone has to learn to find them first: on ISBI the MIM decoder sat at the
 * predict-the-patch-mean plateau for 512+ updates (and a copy-from-the-same-row control needed ~800),
 * while a linear predictor from one visible neighbour's border already explains 5 % of a masked 16 x 16
 * patch. The shifts are a pad and a slice of the `[batch, gz, gy, gx, dim]` view: no gather, no JS-built
 * selection matrix, cost linear in the batch.
 */

/** Axes (1 = z, 2 = y, 3 = x of the `[batch, gz, gy, gx, dim]` view) along which a grid has neighbours. */
function spannedAxes(grid: Shape3): number[] {
  return [1, 2, 3].filter((a) => grid[a - 1]! > 1);
}

/** Face-neighbour mixing on a patch grid: `x + W [x(p - e_a), x(p + e_a) for each spanned axis a]`. */
export class NeighborMix {
  readonly proj: Dense | null;
  private readonly axes: number[];

  constructor(
    scope: ParamScope,
    readonly grid: Shape3,
    readonly dim: number,
  ) {
    this.axes = spannedAxes(grid);
    // a single patch has no neighbours: the layer is then the identity and holds no parameters
    this.proj = this.axes.length ? new Dense(scope, 2 * this.axes.length * dim, dim) : null;
  }

  /**
   * The rows of each patch's neighbours, side by side: `[batch * numPatches, dim]` (sample-major, patches
   * z slowest) -> `[batch * numPatches, 2 * axes * dim]`; a neighbour outside the grid reads zeros.
   */
  neighbors(x: tf.Tensor2D, batch: number): tf.Tensor2D {
    const [gz, gy, gx] = this.grid;
    const x5 = tf.reshape(x, [batch, gz, gy, gx, this.dim]);
    const parts: tf.Tensor[] = [];
    for (const a of this.axes) {
      const n = x5.shape[a]!;
      const size = [batch, gz, gy, gx, this.dim];
      size[a] = n - 1;
      const lo = [0, 0, 0, 0, 0];
      const hi = [0, 0, 0, 0, 0];
      hi[a] = 1;
      const pad = (before: number, after: number): [number, number][] =>
        size.map((_, i) => (i === a ? [before, after] : [0, 0]));
      // row p reads p - 1 (first row: zeros), then p + 1 (last row: zeros)
      parts.push(tf.pad(tf.slice(x5, lo, size), pad(1, 0)));
      parts.push(tf.pad(tf.slice(x5, hi, size), pad(0, 1)));
    }
    return tf.reshape(tf.concat(parts, 4), [x.shape[0], parts.length * this.dim]);
  }

  /** `x` plus the learned map of its neighbours' rows in `source` (both `[batch * numPatches, dim]`). */
  apply(x: tf.Tensor2D, source: tf.Tensor2D, batch: number): tf.Tensor2D {
    if (!this.proj) return x;
    return tf.add(x, this.proj.apply(this.neighbors(source, batch))) as tf.Tensor2D;
  }

  /** Forward multiply-adds per patch row. */
  get macsPerRow(): number {
    return this.proj ? this.proj.macsPerRow : 0;
  }
}

import * as tf from '@tensorflow/tfjs';
import type { Shape3 } from '../data/types.js';
import { Dense } from './dense.js';
import type { ParamScope } from './params.js';
import { RowSelection } from './select-rows.js';

/*
 * Local context for the MIM decoder: every decoder row gets a learned linear map of its face neighbours'
 * rows on the patch grid (-1 and +1 along each axis the grid spans). Its input holds the encoded visible
 * tokens and zeros at masked patches, so a masked patch sees exactly its visible neighbours from the first
 * update on. Attention alone has to learn to find them first: on ISBI the MIM decoder sat at the
 * predict-the-patch-mean plateau for 512+ updates (and a copy-from-the-same-row control needed ~800),
 * while a linear predictor from one visible neighbour's border already explains 5 % of a masked 16 x 16
 * patch. The neighbour rows come from one constant selection over the grid's patches (built once, the same
 * for every batch size), so the cost stays linear in the batch.
 */

/** Face-neighbour offsets (dz, dy, dx) along the axes a grid spans: -1 then +1 per axis, z first. */
function neighborOffsets(grid: Shape3): Shape3[] {
  const out: Shape3[] = [];
  for (let a = 0; a < 3; a++) {
    if (grid[a]! < 2) continue;
    for (const d of [-1, 1]) {
      const o: Shape3 = [0, 0, 0];
      o[a] = d;
      out.push(o);
    }
  }
  return out;
}

/** Face-neighbour mixing on a patch grid: `x + W [x(p - e_a), x(p + e_a) for each spanned axis a]`. */
export class NeighborMix {
  readonly proj: Dense | null;
  /** Neighbours per patch (2 per spanned axis). */
  readonly k: number;
  /** `[k * numPatches, numPatches]`: row `d * numPatches + p` picks neighbour d of patch p (none: zeros). */
  private readonly sel: RowSelection | null;

  constructor(
    scope: ParamScope,
    readonly grid: Shape3,
    readonly dim: number,
  ) {
    const offsets = neighborOffsets(grid);
    this.k = offsets.length;
    const [gz, gy, gx] = grid;
    const np = gz * gy * gx;
    const pairs: [number, number][] = [];
    offsets.forEach(([dz, dy, dx], d) => {
      for (let p = 0; p < np; p++) {
        const z = Math.floor(p / (gy * gx)) + dz;
        const y = (Math.floor(p / gx) % gy) + dy;
        const x = (p % gx) + dx;
        if (z >= 0 && z < gz && y >= 0 && y < gy && x >= 0 && x < gx)
          pairs.push([d * np + p, (z * gy + y) * gx + x]);
      }
    });
    // a single patch has no neighbours: the layer is then the identity and holds no parameters
    this.sel = this.k ? new RowSelection(this.k * np, np, pairs) : null;
    this.proj = this.k ? new Dense(scope, this.k * dim, dim) : null;
  }

  /**
   * The rows of each patch's neighbours, side by side: `[batch * numPatches, dim]` (sample-major, patches
   * z slowest) -> `[batch * numPatches, k * dim]` in the order -z, +z, -y, +y, -x, +x (spanned axes only);
   * a neighbour outside the grid reads zeros. One plain matmul with a constant selection for the whole
   * batch (patches as rows): 5-D slices and pads run ~10x slower in wasm.
   */
  neighbors(x: tf.Tensor2D, batch: number): tf.Tensor2D {
    if (!this.sel) return tf.zeros([x.shape[0], 0]);
    const np = x.shape[0] / batch;
    const d = this.dim;
    const byPatch = tf.reshape(tf.transpose(tf.reshape(x, [batch, np, d]), [1, 0, 2]), [np, batch * d]);
    const picked = tf.reshape(this.sel.apply(byPatch), [this.k, np, batch, d]);
    return tf.reshape(tf.transpose(picked, [2, 1, 0, 3]), [batch * np, this.k * d]);
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

  /** Free the constant selection (the weights belong to the ParamStore). */
  dispose(): void {
    this.sel?.dispose();
  }
}

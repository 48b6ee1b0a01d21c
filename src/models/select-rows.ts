import * as tf from '@tensorflow/tfjs';
import { customOp } from './custom-op.js';

/*
 * Row gather / scatter as a matMul with a constant 0/1 selection matrix built in JS. tf.gather and its
 * gradient (unsortedSegmentSum) are slow in wasm for this use; a [m, n] x [n, d] matmul is fast and its
 * backward is another plain matmul with the transposed selection, also built in JS.
 */

/** A constant selection: `out[i] = sum_j sel[i, j] * x[j]`. */
export class RowSelection {
  readonly sel: tf.Tensor2D;
  readonly selT: tf.Tensor2D;

  /**
   * @param rows output rows m
   * @param cols input rows n
   * @param pairs (outRow, inRow) pairs with weight 1
   */
  constructor(
    readonly rows: number,
    readonly cols: number,
    pairs: Iterable<[number, number]>,
  ) {
    const s = new Float32Array(rows * cols);
    const st = new Float32Array(rows * cols);
    for (const [i, j] of pairs) {
      s[i * cols + j] = 1;
      st[j * rows + i] = 1;
    }
    this.sel = tf.tensor2d(s, [rows, cols]);
    this.selT = tf.tensor2d(st, [cols, rows]);
  }

  /**
   * The per-sample tiling of `perSample` rows over `batch` samples: output row `b * perSample + i` is
   * input row `i` (e.g. one position embedding for every sample of a batch).
   */
  static tiled(batch: number, perSample: number): RowSelection {
    return new RowSelection(
      batch * perSample,
      perSample,
      Array.from({ length: batch * perSample }, (_, i): [number, number] => [i, i % perSample]),
    );
  }

  /** `[cols, d] -> [rows, d]`; gradient flows to x only. */
  apply(x: tf.Tensor): tf.Tensor2D {
    const sel = this.sel;
    const selT = this.selT;
    const op = customOp((xi: tf.Tensor2D) => ({
      value: tf.matMul(sel, xi),
      gradFunc: (dy: tf.Tensor2D) => [tf.matMul(selT, dy)],
    }));
    return op(x) as tf.Tensor2D;
  }

  dispose(): void {
    this.sel.dispose();
    this.selT.dispose();
  }
}

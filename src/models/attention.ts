import * as tf from '@tensorflow/tfjs';
import { batchMatMul } from './batch-matmul.js';
import { customOp } from './custom-op.js';
import { Dense } from './dense.js';
import type { ParamScope } from './params.js';

/*
 * Multi-head self-attention over a batch of equal-length token sequences stored 2D as
 * `[batch * tokens, dim]` (sample-major rows). Samples may be padded: `keyBias` `[batch, 1, 1, tokens]`
 * holds 0 for real keys and a large negative number for padded keys, so padded tokens receive zero
 * attention and cannot change any real token's output (their own outputs are ignored downstream).
 *
 * The core (scores, softmax, weighted sum) has a hand-written backward: tfjs's autodiff of batched
 * matMul would differentiate through the 4-D transposes twice. The per-head products are batched
 * matmuls with transpose flags instead of explicit transposes (batch-matmul.ts: SIMD loops on wasm that
 * read a transposed operand in place, where wasm's own batched kernel is a scalar loop).
 */

/** Bias given to padded keys; large enough that exp() underflows to exactly 0, finite to avoid NaN. */
export const PAD_BIAS = -1e9;

/**
 * Build the key bias `[batch, 1, 1, tokens]` from per-sample real-token counts (real tokens first).
 * Returns null when no sample is padded.
 */
export function keyBiasFromCounts(counts: ArrayLike<number>, tokens: number): tf.Tensor4D | null {
  const b = counts.length;
  let padded = false;
  const data = new Float32Array(b * tokens);
  for (let i = 0; i < b; i++) {
    for (let t = counts[i]!; t < tokens; t++) data[i * tokens + t] = PAD_BIAS;
    if (counts[i]! < tokens) padded = true;
  }
  return padded ? tf.tensor4d(data, [b, 1, 1, tokens]) : null;
}

/**
 * Scaled dot-product attention core. qkv `[batch * tokens, 3 * dim]` with columns (q | k | v), each
 * split into `heads` contiguous groups of `dim / heads`. Returns `[batch * tokens, dim]`.
 */
export function attentionCore(
  qkv: tf.Tensor2D,
  batch: number,
  tokens: number,
  heads: number,
  keyBias: tf.Tensor4D | null,
): tf.Tensor2D {
  const dim = qkv.shape[1] / 3;
  const dh = dim / heads;
  const scale = 1 / Math.sqrt(dh);
  const bh = batch * heads;
  const op = customOp((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    // [b*t, 3*dim] -> [b, 3h, t, dh]: one 4-D transpose that keeps dh contiguous (a fast path)
    const x4 = tf.transpose(tf.reshape(x, [batch, tokens, 3 * heads, dh]), [0, 2, 1, 3]);
    const [q4, k4, v4] = tf.split(x4, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const q = tf.reshape(q4, [bh, tokens, dh]);
    const k = tf.reshape(k4, [bh, tokens, dh]);
    const v = tf.reshape(v4, [bh, tokens, dh]);
    let s = tf.reshape(batchMatMul(q, k, false, true), [batch, heads, tokens, tokens]);
    s = tf.mul(s, scale);
    if (keyBias) s = tf.add(s, keyBias);
    const p = tf.reshape(tf.softmax(s), [bh, tokens, tokens]); // [b*h, t, t]
    const o = batchMatMul(p, v); // [b*h, t, dh]
    save([q, k, v, p]);
    const out = tf.transpose(tf.reshape(o, [batch, heads, tokens, dh]), [0, 2, 1, 3]);
    return {
      value: tf.reshape(out, [batch * tokens, dim]),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dO = tf.reshape(tf.transpose(tf.reshape(dy, [batch, tokens, heads, dh]), [0, 2, 1, 3]), [
          bh,
          tokens,
          dh,
        ]);
        const dV = batchMatMul(ps, dO, true, false); // Pᵀ·dO [b*h, t, dh]
        const dP = batchMatMul(dO, vs, false, true); // dO·Vᵀ [b*h, t, t]
        // softmax backward: dS = P * (dP - rowsum(dP * P)), times the score scale
        const dS = tf.mul(tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))), scale);
        const dQ = batchMatMul(dS, ks);
        const dK = batchMatMul(dS, qs, true, false); // dSᵀ·Q
        const d4 = tf.concat(
          [dQ, dK, dV].map((t) => tf.reshape(t, [batch, heads, tokens, dh])),
          1,
        ); // [b, 3h, t, dh]
        return [tf.reshape(tf.transpose(d4, [0, 2, 1, 3]), [batch * tokens, 3 * dim])];
      },
    };
  });
  return op(qkv) as tf.Tensor2D;
}

/** Multi-head self-attention block: qkv projection, attention core, output projection. */
export class MultiHeadAttention {
  readonly qkv: Dense;
  readonly proj: Dense;

  constructor(
    scope: ParamScope,
    readonly dim: number,
    readonly heads: number,
  ) {
    this.qkv = new Dense(scope.scope('qkv'), dim, 3 * dim);
    this.proj = new Dense(scope.scope('proj'), dim, dim);
  }

  /** x `[batch * tokens, dim]` -> `[batch * tokens, dim]`. */
  apply(x: tf.Tensor2D, batch: number, tokens: number, keyBias: tf.Tensor4D | null): tf.Tensor2D {
    const qkv = this.qkv.apply(x);
    return this.proj.apply(attentionCore(qkv, batch, tokens, this.heads, keyBias));
  }

  /** Forward multiply-adds for one sample of `tokens` tokens. */
  macs(tokens: number): number {
    return tokens * (this.qkv.macsPerRow + this.proj.macsPerRow) + 2 * tokens * tokens * this.dim;
  }
}

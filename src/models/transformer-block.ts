import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from './attention.js';
import { LayerNorm } from './layer-norm.js';
import { Mlp } from './mlp.js';
import type { ParamScope } from './params.js';

/** Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)); activations `[b * t, dim]`. */
export class TransformerBlock {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(scope: ParamScope, dim: number, heads: number, mlpRatio: number) {
    this.norm1 = new LayerNorm(scope.scope('norm1'), dim);
    this.attn = new MultiHeadAttention(scope.scope('attn'), dim, heads);
    this.norm2 = new LayerNorm(scope.scope('norm2'), dim);
    this.mlp = new Mlp(scope.scope('mlp'), dim, Math.round(dim * mlpRatio));
  }

  apply(x: tf.Tensor2D, batch: number, tokens: number, keyBias: tf.Tensor4D | null): tf.Tensor2D {
    const h = tf.add(x, this.attn.apply(this.norm1.apply(x), batch, tokens, keyBias)) as tf.Tensor2D;
    return tf.add(h, this.mlp.apply(this.norm2.apply(h))) as tf.Tensor2D;
  }

  /** Forward multiply-adds for one sample of `tokens` tokens. */
  macs(tokens: number): number {
    return this.attn.macs(tokens) + tokens * this.mlp.macsPerRow;
  }
}

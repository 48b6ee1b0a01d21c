import * as tf from '@tensorflow/tfjs';
import type { Shape3 } from '../data/types.js';
import { Dense } from './dense.js';
import { LayerNorm } from './layer-norm.js';
import type { ParamScope } from './params.js';
import { PatchGrid } from './patch-grid.js';
import { sincosPosEmbed3d } from './pos-embed.js';
import type { RowSelection } from './select-rows.js';
import { TransformerBlock } from './transformer-block.js';

/*
 * The 3-D ViT encoder shared by the MIM model and the affinity network. Parameter names (under the
 * `encoder` scope): patch_embed/{w,b}, pos_embed (learned only), blocks/<i>/..., norm/{g,b}.
 * Tokens are 2-D `[batch * tokens, embedDim]`, sample-major; patch voxels `[rows, patchVoxels]`.
 */

/**
 * Fixed input standardization of raw voxels (in [0, 1]) before the patch projection, as MAE standardizes
 * images with the dataset mean/std. Raw EM has mean ~0.5 and std ~0.17 (ISBI 2012). Fed unscaled, the
 * patch content moved the initial tokens by ~0.24 rms per channel, under a shared offset of ~0.69 from the
 * mean intensity (standardized: ~1.2, no offset), and MAE on ISBI sat at the predict-the-mean plateau
 * (loss 1.0) for 1000+ steps; standardized, it leaves it within ~100 steps.
 */
export const INPUT_MEAN = 0.5;
/** See {@link INPUT_MEAN}. */
export const INPUT_STD = 0.2;

/** Architecture of the encoder (the size fields of ModelConfig). */
export interface VitEncoderConfig {
  crop: Shape3;
  patch: Shape3;
  embedDim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  posEmbed: 'sincos' | 'learned';
}

/** The 3D ViT encoder: patch projection, position embedding, transformer blocks, final LayerNorm. */
export class VitEncoder {
  readonly grid: PatchGrid;
  readonly patchEmbed: Dense;
  /** `[numPatches, embedDim]`: a constant (sincos) or a variable (learned). */
  readonly pos: tf.Tensor2D;
  readonly blocks: TransformerBlock[];
  readonly norm: LayerNorm;

  constructor(
    scope: ParamScope,
    readonly cfg: VitEncoderConfig,
  ) {
    this.grid = new PatchGrid(cfg.crop, cfg.patch);
    const d = cfg.embedDim;
    this.patchEmbed = new Dense(scope.scope('patch_embed'), this.grid.patchVoxels, d);
    const np = this.grid.numPatches;
    this.pos =
      cfg.posEmbed === 'learned'
        ? (scope.add('pos_embed', [np, d], {
            kind: 'normal',
            std: 0.02,
          }) as tf.Variable as unknown as tf.Tensor2D)
        : tf.tensor2d(sincosPosEmbed3d(this.grid.grid, d), [np, d]);
    this.blocks = Array.from(
      { length: cfg.depth },
      (_, i) => new TransformerBlock(scope.scope(`blocks/${i}`), d, cfg.heads, cfg.mlpRatio),
    );
    this.norm = new LayerNorm(scope.scope('norm'), d);
  }

  get embedDim(): number {
    return this.cfg.embedDim;
  }

  /**
   * Patch projection of raw voxels `[rows, patchVoxels]` (standardized first) -> `[rows, embedDim]`.
   * The voxels are data: the backward computes no gradient for them (see dense.ts).
   */
  project(patches: tf.Tensor2D): tf.Tensor2D {
    const x = tf.mul(tf.sub(patches, INPUT_MEAN), 1 / INPUT_STD) as tf.Tensor2D;
    return this.patchEmbed.apply(x);
  }

  /** Patch projection plus position rows: patches `[rows, patchVoxels]`, posSel maps patch ids to rows. */
  embed(patches: tf.Tensor2D, posSel: RowSelection): tf.Tensor2D {
    return tf.add(this.project(patches), posSel.apply(this.pos)) as tf.Tensor2D;
  }

  /**
   * Transformer blocks then the final norm. `collect` lists block indices whose outputs are returned too
   * (for UNETR skips). x `[batch * tokens, embedDim]`.
   */
  run(
    x: tf.Tensor2D,
    batch: number,
    tokens: number,
    keyBias: tf.Tensor4D | null,
    collect: number[] = [],
  ): { out: tf.Tensor2D; hidden: tf.Tensor2D[] } {
    const hidden: tf.Tensor2D[] = [];
    let h = x;
    this.blocks.forEach((blk, i) => {
      h = blk.apply(h, batch, tokens, keyBias);
      if (collect.includes(i)) hidden.push(h);
    });
    return { out: this.norm.apply(h), hidden };
  }

  /** Forward multiply-adds of one sample with `tokens` tokens (patch projection included). */
  macs(tokens: number): number {
    return tokens * this.patchEmbed.macsPerRow + this.blocks.reduce((s, b) => s + b.macs(tokens), 0);
  }

  /** Free the constant position table (variables belong to the ParamStore). */
  dispose(): void {
    if (this.cfg.posEmbed === 'sincos') this.pos.dispose();
  }
}

import { CheckpointError } from '../core/errors.js';
import type { Shape3 } from '../data/types.js';
import type { CheckpointTensor } from './checkpoint.js';
import { GELU_ALPHA } from './gelu.js';
import { LAYER_NORM_EPS } from './layer-norm.js';
import { sincosPosEmbed3d } from './pos-embed.js';
import type { SafeTensor } from './safetensors.js';
import { INPUT_MEAN, INPUT_STD, type VitEncoderConfig } from './vit-encoder.js';

/*
 * dbmim weights in a PyTorch module layout (timm's ViT names, 3-D patches). Names and shapes:
 *   patch_embed.proj.weight [D, 1, pz, py, px]   Conv3d, kernel = stride = patch (dbmim's dense w, transposed)
 *   patch_embed.proj.bias   [D]
 *   pos_embed               [1, N, D]            added after the patch projection (sincos tables included)
 *   blocks.{i}.norm1.{weight,bias}, blocks.{i}.attn.qkv.{weight [3D, D], bias}, blocks.{i}.attn.proj.*,
 *   blocks.{i}.norm2.*, blocks.{i}.mlp.fc1.{weight [H, D], bias}, blocks.{i}.mlp.fc2.*
 *   norm.{weight,bias}
 * Linear weights are [out, in] (dbmim stores [in, out]). qkv rows are (q | k | v), each split into heads
 * of D / heads contiguous rows, as timm's `reshape(B, N, 3, heads, D / heads)` expects. Patches are
 * numbered z slowest, x fastest (Conv3d output flattened). The affinity network's decoder (`seg/...`)
 * keeps dbmim's names with '.' for '/': dense `w` -> `weight` [out, in], conv `w` [k, k, k, in, out] ->
 * `weight` [out, in, k, k, k], `b` -> `bias`; its `up.{i}` layers are linear maps to (sz, sy, sx, out).
 */

/** Layout tag stored in the metadata; readers check it. */
export const TORCH_LAYOUT = 'dbmim-vit3d-v1';

/** What a PyTorch reader needs besides the weights (stored as JSON in the safetensors metadata). */
export interface TorchExportConfig {
  layout: typeof TORCH_LAYOUT;
  kind: 'encoder' | 'affinity';
  crop: Shape3;
  patch: Shape3;
  embedDim: number;
  depth: number;
  heads: number;
  mlpHidden: number;
  /** Raw voxels in [0, 1] are standardized as (x - inputMean) / inputStd before the patch projection. */
  inputMean: number;
  inputStd: number;
  layerNormEps: number;
  /** Activation of the MLP: x * sigmoid(geluAlpha * x) ("quick GELU"). */
  activation: 'quick_gelu';
  geluAlpha: number;
  /** How raw files map to [0, 1]: uint8 / 255, uint16 / 65535, floats as stored. */
  rawScaling: 'uint8/255,uint16/65535,float';
}

function get(
  tensors: Map<string, CheckpointTensor>,
  name: string,
  shape: number[],
  where: string,
): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new CheckpointError(`${where}: missing tensor '${name}'`);
  if (t.dtype !== 'float32' || t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))
    throw new CheckpointError(
      `${where}: tensor '${name}' is ${t.dtype} [${t.shape}], expected float32 [${shape}]`,
    );
  return t.data as Float32Array;
}

/** `[rows, cols]` row-major -> `[cols, rows]`. */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

const f32 = (name: string, shape: number[], data: Float32Array): SafeTensor => ({
  name,
  shape,
  dtype: 'F32',
  data,
});

/**
 * The encoder's tensors in the PyTorch layout, from a checkpoint's `encoder/...` tensors and the model
 * config. Every tensor the layout needs must be present with its shape (one error names the first missing).
 */
export function encoderToTorch(
  tensors: Map<string, CheckpointTensor>,
  cfg: VitEncoderConfig,
  where: string,
): { tensors: SafeTensor[]; config: TorchExportConfig } {
  const d = cfg.embedDim;
  const [pz, py, px] = cfg.patch;
  const pv = pz * py * px;
  const grid: Shape3 = [cfg.crop[0] / pz, cfg.crop[1] / py, cfg.crop[2] / px];
  const np = grid[0] * grid[1] * grid[2];
  const hidden = Math.round(d * cfg.mlpRatio);
  const out: SafeTensor[] = [];
  const linear = (src: string, dst: string, inDim: number, outDim: number): void => {
    out.push(
      f32(
        `${dst}.weight`,
        [outDim, inDim],
        transpose2d(get(tensors, `${src}/w`, [inDim, outDim], where), inDim, outDim),
      ),
    );
    out.push(f32(`${dst}.bias`, [outDim], get(tensors, `${src}/b`, [outDim], where)));
  };
  const norm = (src: string, dst: string): void => {
    out.push(f32(`${dst}.weight`, [d], get(tensors, `${src}/g`, [d], where)));
    out.push(f32(`${dst}.bias`, [d], get(tensors, `${src}/b`, [d], where)));
  };
  const pw = get(tensors, 'encoder/patch_embed/w', [pv, d], where);
  out.push(f32('patch_embed.proj.weight', [d, 1, pz, py, px], transpose2d(pw, pv, d)));
  out.push(f32('patch_embed.proj.bias', [d], get(tensors, 'encoder/patch_embed/b', [d], where)));
  const pos =
    cfg.posEmbed === 'learned'
      ? get(tensors, 'encoder/pos_embed', [np, d], where)
      : sincosPosEmbed3d(grid, d);
  out.push(f32('pos_embed', [1, np, d], pos));
  for (let i = 0; i < cfg.depth; i++) {
    const s = `encoder/blocks/${i}`;
    const t = `blocks.${i}`;
    norm(`${s}/norm1`, `${t}.norm1`);
    linear(`${s}/attn/qkv`, `${t}.attn.qkv`, d, 3 * d);
    linear(`${s}/attn/proj`, `${t}.attn.proj`, d, d);
    norm(`${s}/norm2`, `${t}.norm2`);
    linear(`${s}/mlp/fc1`, `${t}.mlp.fc1`, d, hidden);
    linear(`${s}/mlp/fc2`, `${t}.mlp.fc2`, hidden, d);
  }
  norm('encoder/norm', 'norm');
  const config: TorchExportConfig = {
    layout: TORCH_LAYOUT,
    kind: 'encoder',
    crop: [...cfg.crop],
    patch: [...cfg.patch],
    embedDim: d,
    depth: cfg.depth,
    heads: cfg.heads,
    mlpHidden: hidden,
    inputMean: INPUT_MEAN,
    inputStd: INPUT_STD,
    layerNormEps: LAYER_NORM_EPS,
    activation: 'quick_gelu',
    geluAlpha: GELU_ALPHA,
    rawScaling: 'uint8/255,uint16/65535,float',
  };
  return { tensors: out, config };
}

/**
 * The affinity decoder's `seg/...` tensors in PyTorch conventions (see the file comment); names keep
 * dbmim's structure under `seg.`.
 */
export function decoderToTorch(tensors: Map<string, CheckpointTensor>, where: string): SafeTensor[] {
  const out: SafeTensor[] = [];
  const names = [...tensors.keys()].filter((n) => n.startsWith('seg/')).sort();
  if (!names.length)
    throw new CheckpointError(`${where}: no affinity decoder weights ('seg/...'); not an affinity network?`);
  for (const name of names) {
    const t = tensors.get(name)!;
    if (t.dtype !== 'float32')
      throw new CheckpointError(`${where}: tensor '${name}' is ${t.dtype}, expected float32`);
    const parts = name.split('/');
    const leaf = parts.pop()!;
    const base = parts.join('.');
    const data = t.data as Float32Array;
    if (leaf === 'b') out.push(f32(`${base}.bias`, [...t.shape], data));
    else if (leaf === 'w' && t.shape.length === 2) {
      const [i, o] = t.shape as [number, number];
      out.push(f32(`${base}.weight`, [o, i], transpose2d(data, i, o)));
    } else if (leaf === 'w' && (t.shape.length === 5 || t.shape.length === 4)) {
      // Conv3d [kz, ky, kx, in, out] -> [out, in, kz, ky, kx]; in-plane Conv2d [ky, kx, in, out] ->
      // [out, in, ky, kx]: (k, in) rows against out columns, transposed.
      const kernel = t.shape.slice(0, -2);
      const [ci, co] = t.shape.slice(-2) as [number, number];
      const k = kernel.reduce((a, b) => a * b, 1);
      const tr = transpose2d(data, k * ci, co); // [out, k, in]
      const w = new Float32Array(data.length);
      for (let o = 0; o < co; o++)
        for (let kk = 0; kk < k; kk++)
          for (let c = 0; c < ci; c++) w[(o * ci + c) * k + kk] = tr[(o * k + kk) * ci + c]!;
      out.push(f32(`${base}.weight`, [co, ci, ...kernel], w));
    } else throw new CheckpointError(`${where}: tensor '${name}' [${t.shape}] has no PyTorch mapping`);
  }
  return out;
}

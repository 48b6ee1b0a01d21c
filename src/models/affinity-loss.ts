import * as tf from '@tensorflow/tfjs';
import { InputError } from '../core/errors.js';
import { customOp } from './custom-op.js';
import { ensureJsKernel, type JsKernelFunc } from './js-kernel.js';
import { wasmSimd } from './wasm-simd.js';

/*
 * The affinity network's objective, the one function that both training (with gradients) and validation
 * (without) evaluate: a weighted mean over voxels and channels of binary cross-entropy on the logits
 * (stable form, no clamping) or of the squared error of the probabilities.
 */

/** Loss kind, as `finetune.loss` in the config. */
export type AffinityLossKind = 'mse' | 'bce';

/** Probabilities are clamped to [eps, 1 - eps] when turned back into logits (BCE of a blended map). */
const LOGIT_EPS = 1e-6;

/**
 * How the logits lie relative to the targets: `same` (any shape, the target's), or `channelsLast`: the
 * network's `[batch, ..., c]` against channels-first targets `[batch, c, ...]` (the sums are the same;
 * the fast BCE path reads this layout as it is, with no transpose either way).
 */
export type LogitsLayout = 'same' | 'channelsLast';

/**
 * `sum(w * l(z, t)) / sum(w)` (plain mean without weights) as a scalar tensor; runs inside
 * tf.variableGrads for training, or in a tf.tidy for validation.
 * @param logits affinity logits: the target's shape, or its channels-last form (see `layout`)
 * @param target 0/1 (or soft targets in [0, 1])
 * @param weight the target's shape, non-negative, or null
 */
export function affinityLoss(
  logits: tf.Tensor,
  target: tf.Tensor,
  weight: tf.Tensor | null,
  kind: AffinityLossKind,
  layout: LogitsLayout = 'same',
): tf.Scalar {
  if (layout === 'channelsLast') {
    if (kind === 'bce' && weight && fusedBceApplies(logits, target, weight))
      return fusedBceOp(target, weight)(logits);
    logits = channelsFirst(logits, target.shape);
  }
  if (kind === 'bce') return bceOp(target, weight)(logits);
  return weightedMean(tf.square(tf.sub(tf.sigmoid(logits), target)), weight);
}

/**
 * Channels-last logits `[b, ..., c]` as the target's channels-first `[b, c, ...]`: one transpose on the
 * backend (a JS loop over a fresh array cost ~10 ms a step, mostly page faults).
 */
export function channelsFirst(logits: tf.Tensor, targetShape: number[]): tf.Tensor {
  const [b, c] = targetShape as [number, number];
  if (logits.size !== tf.util.sizeFromShape(targetShape) || logits.shape[logits.rank - 1] !== c)
    throw new InputError(
      `affinity loss: channels-last logits [${logits.shape}] do not match targets [${targetShape}]`,
    );
  const z = tf.reshape(logits, [b, -1, c]);
  return tf.reshape(tf.transpose(z, [0, 2, 1]), targetShape);
}

/** `sum(w * per) / sum(w)`, or the plain mean without weights. */
function weightedMean(per: tf.Tensor, weight: tf.Tensor | null): tf.Scalar {
  if (!weight) return tf.mean(per);
  return tf.div(tf.sum(tf.mul(per, weight)), tf.maximum(tf.sum(weight), 1e-12));
}

/**
 * Weighted BCE on logits as an op of the logits alone (targets and weights are data), with its closed-form
 * gradient `w (sigmoid(z) - t) / sum(w)`: four kernels instead of autodiff through relu, abs, exp and
 * log1p (about twelve full passes over the 3-channel volume).
 */
function bceOp(target: tf.Tensor, weight: tf.Tensor | null): (logits: tf.Tensor) => tf.Scalar {
  return customOp((z: tf.Tensor, save: tf.GradSaveFunc) => {
    save([z]);
    // max(z, 0) - z t + log(1 + exp(-|z|))
    const per = tf.add(tf.sub(tf.relu(z), tf.mul(z, target)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
    return {
      value: weightedMean(per, weight),
      gradFunc: (dy: tf.Scalar, [zs]: tf.Tensor[]) => {
        const diff = tf.sub(tf.sigmoid(zs!), target);
        const scale = weight ? tf.div(dy, tf.maximum(tf.sum(weight), 1e-12)) : tf.div(dy, zs!.size);
        return [tf.mul(weight ? tf.mul(diff, weight) : diff, scale)];
      },
    };
  }) as (logits: tf.Tensor) => tf.Scalar;
}

const FUSED_BCE = 'DbmimFusedBce';
/** Channels of the fused path (the affinities' z, y, x): its loop interleaves exactly three planes. */
const FUSED_CHANNELS = 3;
/** Voxel groups (of 4) per call of the loop: its float32 partial sums stay short, the total is float64. */
const FUSED_CHUNK_GROUPS = 256;

/**
 * The fused weighted BCE (wasm-simd.ts, bceFunc): z `[b, v, 3]`, t and w `[b, 3, v]` -> the loss (a
 * scalar) and its gradient with respect to z (z's layout, for an upstream gradient of 1). One pass over
 * the volume replaces the op-by-op forward and backward (about twenty kernels, three of them exp, log1p
 * and sigmoid) and the transposes of the logits and of their gradient.
 */
const fusedBceKernel: JsKernelFunc = ({ z, t, w }, _attrs, mem) => {
  const loops = wasmSimd()!;
  const [b, v] = z!.shape as [number, number, number];
  const loss = mem.output([]);
  const grad = mem.output(z!.shape);
  const at = (x: tf.TensorInfo) => mem.view(x).byteOffset;
  // the weights' sum first (the gradient is scaled by its inverse), in float64 over float32 chunks
  const chunk = FUSED_CHUNK_GROUPS * 16;
  const wBytes = 4 * tf.util.sizeFromShape(w!.shape);
  let sumW = 0;
  for (let o = 0; o < wBytes; o += chunk) sumW += loops.vsum(at(w!) + o, Math.min(chunk, wBytes - o));
  const den = Math.max(sumW, 1e-12);
  const planeBytes = 4 * v;
  let sum = 0;
  for (let n = 0; n < b; n++) {
    const zn = at(z!) + n * 3 * planeBytes;
    const tn = at(t!) + n * 3 * planeBytes;
    const wn = at(w!) + n * 3 * planeBytes;
    const gn = at(grad) + n * 3 * planeBytes;
    for (let g0 = 0; g0 < v / 4; g0 += FUSED_CHUNK_GROUPS) {
      const groups = Math.min(FUSED_CHUNK_GROUPS, v / 4 - g0);
      sum += loops.bce(zn + 48 * g0, tn + 16 * g0, wn + 16 * g0, gn + 48 * g0, groups, planeBytes, 1 / den);
    }
  }
  mem.view(loss)[0] = sum / den;
  return [loss, grad];
};

/** Whether the fused kernel takes these tensors: wasm with SIMD, float32, 3 channels, voxels a multiple of 4. */
function fusedBceApplies(z: tf.Tensor, t: tf.Tensor, w: tf.Tensor): boolean {
  const [b, c] = t.shape as [number, number];
  const v = t.size / Math.max(1, b * c);
  return (
    c === FUSED_CHANNELS &&
    t.rank >= 3 &&
    z.shape[z.rank - 1] === c &&
    z.size === t.size &&
    w.size === t.size &&
    v > 0 &&
    v % 4 === 0 &&
    [z, t, w].every((x) => x.dtype === 'float32') &&
    wasmSimd() !== null &&
    ensureJsKernel(FUSED_BCE, fusedBceKernel)
  );
}

/** The fused kernel as an op of the logits (channels-last) alone; its backward scales the saved gradient. */
function fusedBceOp(target: tf.Tensor, weight: tf.Tensor): (logits: tf.Tensor) => tf.Scalar {
  return customOp((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const [b, c] = target.shape as [number, number];
    const z3 = tf.reshape(z, [b, -1, c]);
    const [loss, grad] = tf.engine().runKernel(FUSED_BCE, { z: z3, t: target, w: weight }) as tf.Tensor[];
    z3.dispose();
    save([grad!]);
    return {
      value: loss as tf.Scalar,
      gradFunc: (dy: tf.Scalar, [g]: tf.Tensor[]) => {
        // dy is the seed 1 when the loss is what is differentiated (training): no pass at all (wasm's
        // Multiply by a scalar is a broadcasting loop, ~3 ms at the preset's size); the fused path's
        // backends keep tensors in CPU memory, so reading the scalar costs no transfer
        const scaled = dy.dataSync()[0] === 1 ? g! : tf.mul(g!, dy);
        return [tf.reshape(scaled, z.shape)];
      },
    };
  }) as (logits: tf.Tensor) => tf.Scalar;
}

/**
 * Logits of probabilities (clamped to [1e-6, 1 - 1e-6]), so a probability map (a whole volume blended
 * from overlapping windows) is scored by {@link affinityLoss} too.
 */
export function logitsOf(prob: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const p = tf.clipByValue(prob, LOGIT_EPS, 1 - LOGIT_EPS);
    return tf.sub(tf.log(p), tf.log1p(tf.neg(p)));
  });
}

/** {@link affinityLoss} of a probability map (flat arrays of one shape; a number, no tensors kept). */
export function probabilityLoss(
  prob: Float32Array,
  target: Float32Array,
  weight: Float32Array | null,
  kind: AffinityLossKind,
): number {
  if (prob.length !== target.length || (weight && weight.length !== prob.length))
    throw new InputError(
      `affinity loss: prediction has ${prob.length} values, target ${target.length}, weight ${weight?.length ?? '-'}`,
    );
  const t = tf.tidy(() =>
    affinityLoss(logitsOf(tf.tensor1d(prob)), tf.tensor1d(target), weight ? tf.tensor1d(weight) : null, kind),
  );
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
}

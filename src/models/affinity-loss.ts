import * as tf from '@tensorflow/tfjs';
import { InputError } from '../core/errors.js';
import { customOp } from './custom-op.js';

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
 * `sum(w * l(z, t)) / sum(w)` (plain mean without weights) as a scalar tensor; runs inside
 * tf.variableGrads for training, or in a tf.tidy for validation.
 * @param logits affinity logits, any shape
 * @param target same shape, 0/1 (or soft targets in [0, 1])
 * @param weight same shape, non-negative, or null
 */
export function affinityLoss(
  logits: tf.Tensor,
  target: tf.Tensor,
  weight: tf.Tensor | null,
  kind: AffinityLossKind,
): tf.Scalar {
  if (kind === 'bce') return bceOp(target, weight)(logits);
  return weightedMean(tf.square(tf.sub(tf.sigmoid(logits), target)), weight);
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

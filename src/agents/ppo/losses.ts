import * as tf from '@tensorflow/tfjs';

/*
 * The PPO objective (Schulman et al. 2017) for a Bernoulli(mask) policy, term by term as in CleanRL:
 *
 *   ratio      = exp(log pi(a|o) - log pi_old(a|o))
 *   pg loss    = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))
 *   value loss = 0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))   (clipped)
 *              = 0.5 * mean((V - R)^2)                                                   (unclipped)
 *   entropy    = mean(H(Bernoulli(sigmoid(logit))))
 *   loss       = pg loss - entCoef * entropy + vfCoef * value loss
 *
 * Diagnostics: approx KL = mean((ratio - 1) - log ratio) (the low-variance estimator, always >= 0) and
 * clip fraction = mean(|ratio - 1| > eps).
 */

/** log pi(a) of Bernoulli(sigmoid(logit)): log sigmoid(l) for a = 1, log sigmoid(-l) for a = 0. */
export function bernoulliLogProb(logits: tf.Tensor1D, actions: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const a = tf.cast(actions, 'float32');
    // log sigmoid(l) = -softplus(-l); log(1 - sigmoid(l)) = -softplus(l)
    return tf.neg(tf.add(tf.mul(a, tf.softplus(tf.neg(logits))), tf.mul(tf.sub(1, a), tf.softplus(logits))));
  }) as tf.Tensor1D;
}

/** Entropy of Bernoulli(sigmoid(logit)): softplus(l) - l * sigmoid(l). */
export function bernoulliEntropy(logits: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sub(tf.softplus(logits), tf.mul(logits, tf.sigmoid(logits)))) as tf.Tensor1D;
}

/** softplus(x) = log(1 + e^x) in float64 without overflow or loss at large |x|. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * log pi(a) of Bernoulli(sigmoid(logit)) in float64 from the logit: exact at saturation (logit 25 gives
 * log(1 - p) = -25, where a float32 probability would have rounded to 1). The old log-probability of PPO.
 */
export function logProbOfAction(logit: number, action: number): number {
  return action ? -softplus(-logit) : -softplus(logit);
}

export interface SurrogateOutput {
  /** Scalar clipped-surrogate loss (to minimize). */
  loss: tf.Scalar;
  /** Scalar approx KL(old || new) = mean((ratio - 1) - log ratio). */
  approxKl: tf.Scalar;
  /** Scalar share of samples whose ratio left [1 - eps, 1 + eps]. */
  clipFrac: tf.Scalar;
}

/** Clipped surrogate policy loss. All inputs `[batch]`. */
export function clippedSurrogate(
  newLogProb: tf.Tensor1D,
  oldLogProb: tf.Tensor1D,
  advantages: tf.Tensor1D,
  clipCoef: number,
): SurrogateOutput {
  return tf.tidy(() => {
    const logRatio = tf.sub(newLogProb, oldLogProb);
    const ratio = tf.exp(logRatio);
    const pg1 = tf.mul(tf.neg(advantages), ratio);
    const pg2 = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipCoef, 1 + clipCoef));
    const loss = tf.mean(tf.maximum(pg1, pg2)) as tf.Scalar;
    const approxKl = tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)) as tf.Scalar;
    const clipFrac = tf.mean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clipCoef), 'float32')) as tf.Scalar;
    return { loss, approxKl, clipFrac };
  });
}

/** Value loss, clipped around the old predictions when `clip` (CleanRL's clip_vloss). Inputs `[batch]`. */
export function valueLoss(
  newValues: tf.Tensor1D,
  oldValues: tf.Tensor1D,
  returns: tf.Tensor1D,
  clipCoef: number,
  clip: boolean,
): tf.Scalar {
  return tf.tidy(() => {
    const unclipped = tf.square(tf.sub(newValues, returns));
    if (!clip) return tf.mul(0.5, tf.mean(unclipped)) as tf.Scalar;
    const vClipped = tf.add(oldValues, tf.clipByValue(tf.sub(newValues, oldValues), -clipCoef, clipCoef));
    const clipped = tf.square(tf.sub(vClipped, returns));
    return tf.mul(0.5, tf.mean(tf.maximum(unclipped, clipped))) as tf.Scalar;
  });
}

/** (A - mean) / (std + 1e-8) over the batch (CleanRL normalizes per minibatch; std is unbiased). */
export function normalizeAdvantages(adv: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const n = adv.shape[0];
    const mean = tf.mean(adv);
    const centered = tf.sub(adv, mean);
    const variance = tf.div(tf.sum(tf.square(centered)), Math.max(1, n - 1));
    return tf.div(centered, tf.add(tf.sqrt(variance), 1e-8)) as tf.Tensor1D;
  });
}

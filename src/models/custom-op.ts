import * as tf from '@tensorflow/tfjs';

/*
 * A thin wrapper over tf.customGrad: a forward (inputs, then `save`) that returns its value and a gradient
 * function giving one gradient per tensor input. tfjs types the callback loosely; this keeps call sites
 * free of casts.
 */

/** Backward: upstream gradient and the tensors saved in the forward -> one gradient per input. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type GradFunc = (dy: any, saved: tf.Tensor[]) => tf.Tensor[];

/** Wrap a forward/backward pair as a differentiable op `(...inputs) => output`. */
export function customOp(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  f: (...args: any[]) => { value: tf.Tensor; gradFunc: GradFunc },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as never;
}

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
await selectBackend();
function time(label: string, flops: number, f: () => tf.Tensor, reps = 30) {
  for (let i = 0; i < 3; i++) f().dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f().dispose();
  const ms = (performance.now() - t0) / reps;
  console.log(label.padEnd(40), ms.toFixed(3), 'ms', (flops / ms / 1e6).toFixed(2), 'GFLOP/s');
}
for (const [m, k, n] of [[128, 192, 576], [128, 192, 768], [128, 768, 192], [512, 128, 384], [1024, 1024, 1024]]) {
  const a = tf.randomNormal([m, k]) as tf.Tensor2D;
  const w = tf.randomNormal([k, n]) as tf.Tensor2D;
  const b = tf.randomNormal([n]) as tf.Tensor1D;
  const fl = 2 * m * k * n;
  const reps = m === 1024 ? 3 : 30;
  console.log(`--- ${m}x${k}x${n}`);
  time('plain', fl, () => tf.matMul(a, w), reps);
  time('plain new-weights', fl, () => tf.tidy(() => tf.matMul(a, tf.add(w, 0))), reps);
  time('fused bias', fl, () => tf.fused.matMul({ a, b: w, bias: b }), reps);
  time('fused bias new-weights', fl, () => tf.tidy(() => tf.fused.matMul({ a, b: tf.add(w, 0), bias: b })), reps);
  time('plain + add', fl, () => tf.tidy(() => tf.add(tf.matMul(a, w), b)), reps);
  time('transposeB', fl, () => tf.matMul(a, tf.transpose(w).clone(), false, true), reps);
  time('batched 3d [1,m,k]', fl, () => tf.matMul(a.reshape([1, m, k]), w.reshape([1, k, n])), reps);
}

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function bench(name: string, f: () => tf.Tensor, reps = 3) {
  tf.tidy(() => f().dataSync());
  let best = 1e9;
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); tf.tidy(() => f().dataSync()); best = Math.min(best, performance.now() - t0); }
  console.log(name.padEnd(50), best.toFixed(1), 'ms');
}
const a = tf.randomNormal([131072, 16]), w = tf.randomNormal([16, 8]);
bench('mm [131072,16]x[16,8]', () => tf.matMul(a, w));
const a2 = tf.randomNormal([8192, 256]), w2 = tf.randomNormal([256, 128]);
bench('mm [8192,256]x[256,128]', () => tf.matMul(a2, w2));
const at = tf.randomNormal([16, 131072]);
bench('mm [8,16]x[16,131072] (transposed layout)', () => tf.matMul(tf.randomNormal([8,16]), at));
bench('relu 2M', () => tf.relu(a));
bench('add 2M', () => tf.add(a, a));

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function bench(name: string, f: () => tf.Tensor, reps = 3) {
  tf.tidy(() => f().dataSync());
  let best = 1e9;
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); tf.tidy(() => f().dataSync()); best = Math.min(best, performance.now() - t0); }
  console.log(name.padEnd(50), best.toFixed(1), 'ms');
}
const raw = tf.randomNormal([2, 16, 64, 64, 1]);
const w1 = tf.randomNormal([3, 3, 3, 1, 8]);
bench('conv3d 3x3x3 1->8 full', () => tf.conv3d(raw, w1, 1, 'same'));
const f16 = tf.randomNormal([2, 16, 64, 64, 16]);
const w2 = tf.randomNormal([3, 3, 3, 16, 8]);
bench('conv3d 3x3x3 16->8 full', () => tf.conv3d(f16, w2, 1, 'same'));
const w3 = tf.randomNormal([1, 3, 3, 16, 8]);
bench('conv3d 1x3x3 16->8 full', () => tf.conv3d(f16, w3, 1, 'same'));
bench('dense 16->8 full', () => tf.matMul(f16.reshape([-1, 16]), tf.randomNormal([16, 8])));
const x8 = tf.randomNormal([2, 8, 32, 32, 16]);
const wt = tf.randomNormal([2, 2, 2, 8, 16]);
bench('convT 2x2x2 16->8 to full', () => tf.conv3dTranspose(x8, wt, [2, 16, 64, 64, 8], [2, 2, 2], 'valid'));
const dy = tf.randomNormal([2, 16, 64, 64, 8]);
bench('conv3d stride2 (convT dx)', () => tf.conv3d(dy, wt, [2, 2, 2], 'valid'));
bench('filter grad convT', () => tf.engine().runKernel('Conv3DBackpropFilterV2', { x: dy, dy: x8 }, { strides: [2, 2, 2], pad: 'valid', filterShape: [2, 2, 2, 8, 16] } as never) as tf.Tensor);
bench('conv3d filter grad 3x3x3 1->8', () => tf.engine().runKernel('Conv3DBackpropFilterV2', { x: raw, dy }, { strides: [1, 1, 1], pad: 'same', filterShape: [3, 3, 3, 1, 8] } as never) as tf.Tensor);
bench('conv3d input grad 3x3x3 16->8', () => tf.engine().runKernel('Conv3DBackpropInputV2', { dy, filter: w2 }, { strides: [1, 1, 1], pad: 'same', inputShape: [2, 16, 64, 64, 16] } as never) as tf.Tensor);

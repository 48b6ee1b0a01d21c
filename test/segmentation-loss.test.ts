import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { ConfigError } from '../src/core/errors.js';
import type { CropBatch } from '../src/data/types.js';
import { affinityLoss, probabilityLoss } from '../src/models/affinity-loss.js';
import { affinityTargets } from '../src/tasks/segmentation/affinity-loss.js';

test.before(async () => {
  await selectBackend('wasm');
});

// One crop 1x2x2 (z, y, x): ids [[1, 1], [0, 2]].
const batch: CropBatch = {
  n: 1,
  shape: [1, 2, 2],
  raw: new Float32Array(4),
  labels: Uint32Array.from([1, 1, 0, 2]),
};

test('targets: affinities of the crop labels; weights 1 without boundary weighting', () => {
  const { target, weight } = affinityTargets(batch);
  // z: no neighbour (single section) -> 0; y: (1,0) vs (0,0): 0 vs 1 -> 0, (1,1) vs (0,1): 2 vs 1 -> 0;
  // x: (0,1) vs (0,0): 1 == 1 -> 1, (1,1) vs (1,0): 2 vs 0 -> 0.
  assert.equal(Array.from(target), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.equal(Array.from(weight), new Array(12).fill(1));
});

test('targets: boundary voxels weigh 1 + boundaryWeight, normalized to mean 1; channel weights apply', () => {
  // Boundary (4-neighbourhood in plane): every voxel touches a different id or is 0 -> all boundary.
  // Use a crop with an interior: 1x1x3 ids [5, 5, 5] -> no boundary at all; 1x1x3 [5, 5, 0]: voxels 1, 2.
  const b: CropBatch = {
    n: 1,
    shape: [1, 1, 3],
    raw: new Float32Array(3),
    labels: Uint32Array.from([5, 5, 0]),
  };
  const { weight } = affinityTargets(b, { boundaryWeight: 2, channelWeights: [0, 1, 1] });
  // Raw weights per channel: z [0,0,0], y [1,3,3], x [1,3,3]; sum 14 over 9 entries -> scale 9/14.
  const s = 9 / 14;
  const want = [0, 0, 0, s, 3 * s, 3 * s, s, 3 * s, 3 * s];
  Array.from(weight).forEach((w, i) =>
    assert.ok(Math.abs(w - want[i]!) < 1e-6, `weight ${i}: ${w} vs ${want[i]}`),
  );
  assert.throws(
    () => affinityTargets(b, { boundaryWeight: -1 }),
    (e: Error) => e instanceof ConfigError && /boundaryWeight/.test(e.message),
  );
  assert.throws(() => affinityTargets({ ...b, labels: undefined }), /no labels/);
});

test('loss: weighted mean MSE and BCE equal hand-computed values, from logits and from probabilities', () => {
  const p = Float32Array.from([0.9, 0.2, 0.5, 0.5]);
  const t = Float32Array.from([1, 0, 1, 0]);
  const w = Float32Array.from([1, 1, 2, 0]);
  // weighted means over sum(w) = 4: MSE (0.01 + 0.04 + 2 * 0.25 + 0) / 4; BCE (-ln 0.9 - ln 0.8 - 2 ln 0.5) / 4
  const mse = (0.01 + 0.04 + 0.5) / 4;
  const bce = (-Math.log(0.9) - Math.log(0.8) - 2 * Math.log(0.5)) / 4;
  const before = tf.memory().numTensors;
  const [fromLogits, fromLogitsMse] = tf.tidy(() => {
    const z = tf.log(tf.div(tf.tensor(p), tf.sub(1, tf.tensor(p)))); // logit
    return [
      affinityLoss(z, tf.tensor(t), tf.tensor(w), 'bce').dataSync()[0]!,
      affinityLoss(z, tf.tensor(t), tf.tensor(w), 'mse').dataSync()[0]!,
    ];
  });
  assert.ok(Math.abs(fromLogits - bce) < 1e-5, `${fromLogits} vs ${bce}`);
  assert.ok(Math.abs(fromLogitsMse - mse) < 1e-6, `${fromLogitsMse} vs ${mse}`);
  assert.ok(Math.abs(probabilityLoss(p, t, w, 'bce') - bce) < 1e-5);
  assert.ok(Math.abs(probabilityLoss(p, t, w, 'mse') - mse) < 1e-6);
  // Unweighted = plain mean; the weights' scale does not matter (a weighted mean)
  assert.ok(Math.abs(probabilityLoss(p, t, null, 'mse') - (0.01 + 0.04 + 0.25 + 0.25) / 4) < 1e-6);
  assert.ok(
    Math.abs(
      probabilityLoss(
        p,
        t,
        w.map((x) => 3 * x),
        'bce',
      ) - bce,
    ) < 1e-5,
  );
  // a confident mistake from a probability map is bounded (clamped before the logit)
  assert.ok(probabilityLoss(Float32Array.from([0]), Float32Array.from([1]), null, 'bce') < 14);
  // BCE on logits is exact far into saturation (no clamp): z = -30, t = 1 -> 30
  const far = tf.tidy(() => affinityLoss(tf.tensor([-30]), tf.tensor([1]), null, 'bce').dataSync()[0]!);
  assert.ok(Math.abs(far - 30) < 1e-4, `${far}`);
  assert.is(tf.memory().numTensors, before, 'no tensors kept');
  assert.throws(() => probabilityLoss(p, t.subarray(0, 3), null, 'bce'), /prediction has 4 values, target 3/);
});

test.run();

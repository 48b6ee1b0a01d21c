import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { main as planted } from '../examples/planted-reward.js';

/*
 * Learning on MaskingEnv itself (the real env and MIM model, tiny sizes): a planted reward pays for
 * masking the top-quartile membrane patches of each crop (examples/planted-reward.ts). A random policy's
 * masks fall on them about 0.25 of the time; IPPO and MAPPO must reach at least 0.6 within 10 updates.
 * The slowest test of the suite (about 15 s of CPU): it is the one that shows the learners learn.
 */

test('planted reward on MaskingEnv: IPPO and MAPPO raise the top-quartile share from ~0.25 to >= 0.6', async () => {
  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  const r = await planted({ updates: 10, seed: 1 });
  assert.is(r.gamma, 0, 'the default discount');
  assert.ok(r.random! > 0.15 && r.random! < 0.35, `random share ${r.random}`);
  assert.ok(r.ippo! >= 0.6, `ippo share ${r.ippo}`);
  assert.ok(r.mappo! >= 0.6, `mappo share ${r.mappo}`);
  assert.is(tf.memory().numTensors, before, 'env, model and agents release their tensors');
});

test.run();

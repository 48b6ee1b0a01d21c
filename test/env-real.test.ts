import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { checkEnv } from '../src/env/env-checker.js';
import { createMaskingEnv } from '../src/tasks/create-masking-env.js';

/* MaskingEnv with the real MIM model (src/models/mim-model.ts) on synthetic data, small shapes. */

const config = resolveConfig({
  seed: 3,
  data: { syntheticShape: [8, 48, 48], augment: false },
  model: {
    crop: [4, 32, 32],
    patch: [2, 16, 16],
    embedDim: 16,
    depth: 1,
    heads: 2,
    decoderDim: 16,
    decoderHeads: 2,
  },
  env: { numEnvs: 2, horizon: 2, heldOutCrops: 2 },
  reward: { learningProgress: 1, membraneProxy: 1, kl: 0.1 },
  train: { phase1Steps: 10 },
});

test.before(async () => {
  await selectBackend('wasm');
});

test('real model: the checker passes', async () => {
  const env = await createMaskingEnv(config);
  assert.is(env.numAgents, 8);
  assert.is(env.obsDim, 16 + 6);
  const res = checkEnv(env);
  assert.equal(
    res.filter((r) => !r.ok),
    [],
  );
});

test('real model: same seed, bit-identical first 3 steps; all terms finite; no tensor leak', async () => {
  const run = async () => {
    const env = await createMaskingEnv(config);
    const out: number[][] = [Array.from(env.reset({ seed: 11 }).observations)];
    const acts = Int32Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? 0 : 1));
    const prefs = Float32Array.from({ length: 16 }, (_, i) => 0.2 + 0.05 * i);
    let tensors = -1;
    for (let s = 0; s < 3; s++) {
      if (s === 2) env.reset({ seed: 12 });
      const r = env.step(acts, prefs);
      for (const [k, v] of Object.entries(r.infos.rewardTerms)) assert.ok(v.every(Number.isFinite), k);
      assert.equal(Object.keys(r.infos.rewardTerms).sort(), [
        'budget',
        'kl',
        'learning-progress',
        'membrane-proxy',
        'reconstruction',
        'relative-reconstruction',
      ]);
      out.push(Array.from(r.observations), Array.from(r.rewards), Array.from(r.infos.perPatchLoss));
      if (s === 1) tensors = tf.memory().numTensors;
    }
    assert.is(tf.memory().numTensors, tensors, 'tensor count flat across steps');
    env.close();
    return out;
  };
  const before = tf.memory().numTensors;
  const a = await run();
  assert.is(tf.memory().numTensors, before, 'close() of an env that built its model frees it');
  assert.equal(a, await run());
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { registeredRewards } from '../src/env/rewards/registry.js';
import { MASKED_TERM, main } from '../examples/custom-reward-di.js';

/*
 * The DI container assembles a pretraining run (examples/custom-reward-di.ts): a reward term and an
 * encoder sink registered in the run container replace the defaults. If the env ignored the container,
 * the term would be unknown (it is not registered globally); if the trainer ignored the sink, the default
 * would publish under TOKENS.PretrainedEncoder and the custom sink would receive nothing.
 */

test('a reward term and an encoder sink registered in the run container replace the defaults', async () => {
  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  const r = await main(8, 3);
  assert.is(r.steps.length, 8);
  for (const s of r.steps) {
    assert.equal(s.terms.includes(MASKED_TERM), true, `step terms ${s.terms}`);
    // the custom term (1 per masked patch) is the only weighted term: mean reward = realized ratio
    assert.ok(Math.abs(s.reward - s.maskRatio) < 1e-6, `reward ${s.reward} vs mask ratio ${s.maskRatio}`);
    assert.ok(s.maskRatio > 0.3 && s.maskRatio < 0.95, `mask ratio ${s.maskRatio}`);
  }
  assert.ok(r.sink, 'the custom encoder sink received the encoder');
  assert.is(r.sink!.embedDim, 32);
  assert.ok(r.sink!.tensors > 0 && r.sink!.values > 0);
  assert.is(r.defaultPublished, false, 'the default sink was replaced, not called as well');
  assert.not.ok(registeredRewards().includes(MASKED_TERM), 'the term is registered for the run only');
  assert.is(tf.memory().numTensors, before, 'the run releases its tensors');
});

test.run();

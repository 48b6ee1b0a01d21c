import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, toArray } from 'rxjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type ConfigInput } from '../src/core/config.js';
import type { HeldOutEvent, TrainEvent } from '../src/core/events.js';
import { Rng } from '../src/core/rng.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { MimModel } from '../src/models/mim-model.js';
import { finetune } from '../src/tasks/segmentation/finetune.js';
import { buildPretraining, type BuildPretrainingOptions } from '../src/tasks/pretrain/build.js';
import { HeldOutMimLoss } from '../src/tasks/pretrain/held-out-loss.js';

// The held-out MIM loss: fixed validation crops under a fixed mask, measured without an update.

const MODEL = { embedDim: 32, depth: 1, heads: 2, decoderDim: 32, decoderHeads: 2 };
const small = (extra: ConfigInput = {}) =>
  resolveConfig({
    seed: 3,
    data: { syntheticShape: [8, 64, 64] },
    model: { crop: [4, 32, 32], ...MODEL },
    env: { numEnvs: 2, horizon: 2 },
    ppo: { rolloutSteps: 2 },
    agent: { name: 'random' },
    train: { phase1Steps: 4, phase2Steps: 1, checkpointEvery: 0, heldOutEvery: 2, heldOutCrops: 3 },
    ...extra,
  });
const valid = generateSynthetic({ shape: [4, 48, 48], seed: 'held-out-test' }).raw;

test.before(async () => {
  await selectBackend('wasm');
});

test('held-out loss: same crops and mask every time; unchanged weights give the same number, an update changes it; tensors flat', () => {
  const c = small();
  const model = new MimModel(c.model, c.optim, Rng.fromSeed(1));
  try {
    const opts = { volume: valid, crops: 3, maskRatio: 0.75 };
    const a = new HeldOutMimLoss(model.crop, model.patch, opts);
    const b = new HeldOutMimLoss(model.crop, model.patch, opts);
    assert.equal([...a.crops.raw], [...b.crops.raw], 'the crops are a function of the fixed seed');
    assert.equal([...a.mask], [...b.mask], 'so is the mask');
    // 75 % of the 1 x 2 x 2 = 4 patches of every crop
    for (let k = 0; k < 3; k++)
      assert.is(
        a.mask.subarray(k * 4, (k + 1) * 4).reduce((s, m) => s + m, 0),
        3,
      );
    const before = tf.memory().numTensors;
    const m1 = a.measure(model);
    const m2 = a.measure(model);
    assert.is(tf.memory().numTensors, before, 'no tensor leaks');
    assert.equal(m1, m2, 'unchanged weights: identical numbers');
    // per-patch normalized targets: predicting each patch's mean scores just under 1
    assert.ok(m1.baseline > 0.99 && m1.baseline <= 1, `baseline ${m1.baseline}`);
    assert.ok(Math.abs(m1.ratio - m1.loss / m1.baseline) < 1e-12);
    // an update on other data moves the weights, so the held-out loss changes
    const train = generateSynthetic({ shape: [4, 32, 32], seed: 'train' }).raw.data;
    model.trainStep(
      train,
      1,
      Uint8Array.from({ length: 4 }, (_, i) => (i % 4 ? 1 : 0)),
    );
    const m3 = a.measure(model);
    assert.is.not(m3.loss, m1.loss);
    assert.is(m3.baseline, m1.baseline, 'the baseline is a property of the crops and mask only');
  } finally {
    model.dispose();
  }
});

test('held-out loss: the baseline is the mean squared normalized voxel of the masked patches, by hand', () => {
  // a 1 x 2 x 6 volume = the crop, cut into three 1 x 2 x 2 patches; two of them masked
  const data = Float32Array.from([5, 5, 0, 2, 10, 10, 5, 5, 0, 2, 10, 14]);
  const shape: [number, number, number] = [1, 2, 6];
  const vol = { data, shape, resolution: shape };
  const h = new HeldOutMimLoss(shape, [1, 2, 2], { volume: vol, crops: 1, maskRatio: 0.67 });
  assert.is(
    h.mask.reduce((s, m) => s + m, 0),
    2,
  );
  // a constant patch normalizes to zeros (square mean 0); the others to unit variance (square mean ~1)
  const squareMean = [0, 1, 1];
  const expected =
    (squareMean[0]! * h.mask[0]! + squareMean[1]! * h.mask[1]! + squareMean[2]! * h.mask[2]!) / 2;
  const fake = {
    evaluate: (_raw: Float32Array, _n: number, mask: Uint8Array) => ({
      loss: 0,
      perPatchLoss: Float32Array.from(mask, (m, i) => (m ? 0.25 * (i + 1) : 0)),
      maskRatio: 2 / 3,
    }),
  };
  const m = h.measure(fake as unknown as MimModel);
  assert.ok(Math.abs(m.baseline - expected) < 1e-5, `baseline ${m.baseline} vs ${expected}`);
  const loss = (0.25 * h.mask[0]! + 0.5 * h.mask[1]! + 0.75 * h.mask[2]!) / 2;
  assert.ok(Math.abs(m.loss - loss) < 1e-7, `loss ${m.loss} vs ${loss}`);
});

/** Events of a short pretraining run. */
async function runEvents(config: ReturnType<typeof small>, opts: Partial<BuildPretrainingOptions> = {}) {
  const setup = await buildPretraining(config, { outDir: mkdtempSync(join(tmpdir(), 'dbmim-ho-')), ...opts });
  try {
    const events = firstValueFrom(setup.trainer.events$.pipe(toArray()));
    await setup.trainer.run();
    return await events;
  } finally {
    setup.dispose();
  }
}
const heldOutOf = (es: TrainEvent[]) => es.filter((e): e is HeldOutEvent => e.type === 'heldOut');
const warningsOf = (es: TrainEvent[]) => es.filter((e) => e.type === 'warning');

test('pretraining: held-out loss at step 0, every heldOutEvery steps and at the end; none without a validation volume', async () => {
  // default data: the config's split (synthetic: its validation volume)
  const es = await runEvents(small());
  const ho = heldOutOf(es);
  assert.equal(
    ho.map((e) => e.step),
    [0, 2, 4, 5],
  );
  assert.ok(ho.every((e) => Number.isFinite(e.loss) && e.loss > 0));
  assert.is(warningsOf(es).length, 0);
  // the same run again: the same curve
  assert.equal(heldOutOf(await runEvents(small())), ho);

  // a caller's training source without a validation volume: no measurement, one warning that says why
  const source = generateSynthetic({ shape: [8, 64, 64], seed: 's' });
  const none = await runEvents(small(), { source });
  assert.is(heldOutOf(none).length, 0);
  assert.equal(
    warningsOf(none).map((w) => /data\.validZ/.test((w as { message: string }).message)),
    [true],
  );
  // a validation volume too thin for the crop: the same
  const thin = await runEvents(small(), {
    source,
    valid: generateSynthetic({ shape: [2, 64, 64], seed: 't' }).raw,
  });
  assert.is(heldOutOf(thin).length, 0);
  assert.is(warningsOf(thin).length, 1);
  // turned off: no measurement and no warning
  const off = await runEvents(small({ train: { phase1Steps: 2, heldOutEvery: 0 } }), { source });
  assert.is(heldOutOf(off).length + warningsOf(off).length, 0);
});

test('anisotropic patches: 1x16x16 and 2x16x16 pretrain (with the held-out loss) and finetune from that encoder', async () => {
  const vol = generateSynthetic({ shape: [8, 48, 48], seed: 21, cellSize: 12 });
  for (const patch of [
    [1, 16, 16],
    [2, 16, 16],
  ] as [number, number, number][]) {
    const c = small({
      model: { crop: [4, 32, 32], patch, ...MODEL },
      train: { phase1Steps: 2, phase2Steps: 0, checkpointEvery: 0, heldOutEvery: 2, heldOutCrops: 2 },
      finetune: { steps: 2, batchSize: 1, validEvery: 0 },
    });
    const before = tf.memory().numTensors;
    const out = mkdtempSync(join(tmpdir(), 'dbmim-ho-'));
    const setup = await buildPretraining(c, { outDir: out, source: vol, valid });
    const events = firstValueFrom(setup.trainer.events$.pipe(toArray()));
    await setup.trainer.run();
    assert.is(setup.model.numPatches, (4 / patch[0]) * 2 * 2);
    assert.equal(
      heldOutOf(await events).map((e) => e.step),
      [0, 2],
    );
    setup.dispose();
    const ft = await finetune({
      config: c,
      encoderDir: join(out, 'checkpoint', 'model'),
      train: vol,
      valid: vol,
      validCrops: 1,
    });
    assert.ok(
      ft.trainLoss.every((p) => Number.isFinite(p.loss)),
      `patch [${patch}]: finite losses`,
    );
    assert.ok(ft.validLoss.length > 0 && Number.isFinite(ft.validLoss.at(-1)!.loss));
    assert.is(tf.memory().numTensors, before, `patch [${patch}]: no tensor leaks`);
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type ModelConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { randomMasks } from '../src/env/mask-budget.js';
import { MimModel } from '../src/models/mim-model.js';
import { NeighborMix } from '../src/models/neighbor-mix.js';
import { ParamStore } from '../src/models/params.js';

/*
 * Local context in the MIM decoder (NeighborMix): the neighbour layout by hand, and a task only a masked
 * patch's own neighbours can solve, which a broken context path (neighbours shifted along the wrong axis,
 * visible tokens not reaching the decoder, targets misaligned with predictions) cannot learn.
 */

test.before(async () => {
  await selectBackend('wasm');
});

test('NeighborMix: each row reads its face neighbours (-z, +z, -y, +y, -x, +x), zeros off the grid', () => {
  const before = tf.memory().numTensors;
  const store = new ParamStore(Rng.fromSeed(0));
  // grid z 2, y 2, x 3 = 12 patches; batch 2; dim 1 holding (sample * 100 + patch + 1)
  const mix = new NeighborMix(store.scope('n'), [2, 2, 3], 1);
  const x = tf.tensor2d(
    Array.from({ length: 24 }, (_, r) => Math.floor(r / 12) * 100 + (r % 12) + 1),
    [24, 1],
  );
  const gotT = tf.tidy(() => mix.neighbors(x, 2));
  const got = gotT.arraySync();
  gotT.dispose();
  const v = (b: number, z: number, y: number, xx: number) =>
    z < 0 || z > 1 || y < 0 || y > 1 || xx < 0 || xx > 2 ? 0 : b * 100 + (z * 2 + y) * 3 + xx + 1;
  for (let b = 0; b < 2; b++)
    for (let z = 0; z < 2; z++)
      for (let y = 0; y < 2; y++)
        for (let xx = 0; xx < 3; xx++) {
          const want = [
            v(b, z - 1, y, xx),
            v(b, z + 1, y, xx),
            v(b, z, y - 1, xx),
            v(b, z, y + 1, xx),
            v(b, z, y, xx - 1),
            v(b, z, y, xx + 1),
          ];
          assert.equal(got[b * 12 + (z * 2 + y) * 3 + xx], want, `sample ${b} patch z${z} y${y} x${xx}`);
        }
  // an axis the grid does not span adds no columns; a single patch has no neighbours and no weights
  const flat = new NeighborMix(store.scope('flat'), [1, 2, 3], 4);
  assert.is(flat.proj!.inDim, 4 * 4);
  const single = new NeighborMix(store.scope('one'), [1, 1, 1], 4);
  assert.is(single.proj, null);
  const one = tf.ones([2, 4]) as tf.Tensor2D;
  assert.is(single.apply(one, one, 2), one);
  tf.dispose([x, one]);
  for (const m of [mix, flat, single]) m.dispose();
  store.dispose();
  assert.is(tf.memory().numTensors, before, 'no tensor left behind');
});

/**
 * Every row of patches (along y) holds its own plane wave along x, with a random phase per row and a
 * period of one patch: a masked patch equals its x-neighbours and no position or other row tells its phase.
 */
function rowWaves(rng: Rng, batch: number, crop: [number, number, number], patch: number): Float32Array {
  const [d, h, w] = crop;
  const raw = new Float32Array(batch * d * h * w);
  for (let b = 0; b < batch; b++)
    for (let gy = 0; gy < h / patch; gy++) {
      const phase = rng.uniform(0, 2 * Math.PI);
      for (let z = 0; z < d; z++)
        for (let y = gy * patch; y < (gy + 1) * patch; y++)
          for (let x = 0; x < w; x++)
            raw[((b * d + z) * h + y) * w + x] = 0.5 + 0.3 * Math.sin((2 * Math.PI * x) / patch + phase);
    }
  return raw;
}

test('MIM: a task only a masked patch’s own neighbours solve (a phase per patch row) is learned in 150 updates', () => {
  const model: Partial<ModelConfig> = {
    crop: [1, 32, 32],
    patch: [1, 8, 8],
    embedDim: 32,
    depth: 1,
    heads: 2,
    decoderDim: 32,
    decoderHeads: 2,
  };
  const cfg = resolveConfig({ model, optim: { lr: 3e-3, warmupSteps: 10 } });
  assert.ok(cfg.model.decoderNeighbors, 'on by default');
  const m = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0), { totalSteps: 150 });
  const np = m.numPatches; // 4 x 4
  const rng = Rng.fromSeed(1);
  for (let s = 0; s < 150; s++)
    m.trainStep(rowWaves(rng, 4, cfg.model.crop, 8), 4, randomMasks(4, np, 8, rng.split(`m${s}`)));
  const held = rowWaves(Rng.fromSeed(99), 8, cfg.model.crop, 8);
  const r = m.evaluate(held, 8, randomMasks(8, np, 8, Rng.fromSeed(98)));
  // predicting each patch's mean scores 1.0; half the patches masked, so most have a visible x-neighbour
  assert.ok(r.loss < 0.5, `held-out loss ${r.loss.toFixed(3)}`);
  m.dispose();
});

test('MIM: decoderNeighbors false (or absent, as in older checkpoints) builds no neighbour weights', () => {
  const cfg = resolveConfig({
    model: {
      crop: [4, 32, 32],
      patch: [4, 8, 8],
      embedDim: 16,
      depth: 1,
      heads: 2,
      decoderDim: 16,
      decoderHeads: 2,
    },
  });
  const names = (c: ModelConfig) => {
    const m = new MimModel(c, cfg.optim, Rng.fromSeed(0));
    const n = m.namedWeights().map((w) => w.name);
    m.dispose();
    return n;
  };
  assert.ok(names(cfg.model).includes('decoder/neighbors/w'));
  assert.not.ok(
    names({ ...cfg.model, decoderNeighbors: false }).some((n) => n.startsWith('decoder/neighbors')),
  );
  // a config saved before the field existed has no value for it: off
  const old = { ...cfg.model } as Partial<ModelConfig>;
  delete old.decoderNeighbors;
  assert.not.ok(names(old as ModelConfig).some((n) => n.startsWith('decoder/neighbors')));
});

test.run();

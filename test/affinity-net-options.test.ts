import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { AffinityNet } from '../src/models/affinity-net.js';

/*
 * The affinity network's optional in-plane branch (3x3 convolutions per section at full resolution and
 * an in-plane fusion kernel): it learns, leaks no tensors, and its weights have the shapes it declares.
 */

test('affinity net: the in-plane branch trains (loss falls), leaks nothing, declares its weights', async () => {
  await selectBackend('wasm');
  const cfg = resolveConfig({
    model: { crop: [4, 32, 32], patch: [4, 16, 16], embedDim: 16, depth: 1, heads: 2 },
    finetune: { steps: 30, lr: 1e-2 },
  });
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
    inPlaneChannels: [4, 4],
    fuseKernel: 3,
  });
  const names = net.namedWeights().map((w) => `${w.name}:${w.tensor.shape}`);
  assert.ok(names.includes('seg/in_plane/0/w:3,3,1,4'), names.join(' '));
  assert.ok(names.includes('seg/in_plane/1/w:3,3,4,4'));
  assert.ok(names.includes('seg/fuse/w:3,3,8,8'), 'the token fusion is an in-plane 3x3 conv');
  // target: x affinity 0 on a vertical stripe of dark pixels, 1 elsewhere (a learnable edge)
  const vox = 4 * 32 * 32;
  const raw = new Float32Array(vox).fill(0.8);
  const tgt = new Float32Array(3 * vox).fill(1);
  for (let v = 0; v < vox; v++)
    if (v % 32 === 15 || v % 32 === 16) {
      raw[v] = 0.1;
      tgt[2 * vox + v] = 0;
    }
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let i = 0; i < 30; i++) losses.push(net.trainStep(raw, 1, tgt).loss);
  assert.is(tf.memory().numTensors, before, 'no tensor leaks over 30 steps');
  assert.ok(losses[29]! < 0.5 * losses[0]!, `loss ${losses[0]} -> ${losses[29]}`);
  const p = net.predict(raw, 1);
  assert.is(p.length, 3 * vox);
  assert.ok(p[2 * vox + 16]! < 0.5 && p[2 * vox + 5]! > 0.5, 'the stripe edge is predicted cut');
  net.dispose();
});

test.run();

import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { MimModel } from '../src/models/mim-model.js';
import { makeMimBatch } from './mim.js';
await selectBackend();
const cfg = resolveConfig({ model: { preset: 'small' } });
const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
const data = makeMimBatch(Rng.fromSeed(1), 8, cfg.model.crop, model.numPatches, 0.75);
const m = model as any;
for (let i = 0; i < 3; i++) model.trainStep(data.raw, 8, data.mask);
for (let r = 0; r < 4; r++) {
  let tp = 0, tg = 0, to = 0;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const pb = m.prepare(data.raw, 8, data.mask);
    const t1 = performance.now();
    const { value, grads } = tf.variableGrads(() => m.lossOf(pb).loss, m.optimizer.variables());
    value.dataSync();
    const t2 = performance.now();
    m.optimizer.apply(grads);
    const t3 = performance.now();
    tf.dispose(grads); value.dispose(); for (const t of pb.tensors) t.dispose();
    tp += t1 - t0; tg += t2 - t1; to += t3 - t2;
  }
  console.log(`prepare ${(tp / 4).toFixed(1)} grads ${(tg / 4).toFixed(1)} optim ${(to / 4).toFixed(1)} ms; tensors ${tf.memory().numTensors}`);
}

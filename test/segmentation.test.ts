import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type Config } from '../src/core/config.js';
import { createRunContainer } from '../src/core/container.js';
import { CheckpointError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { TOKENS } from '../src/core/tokens.js';
import { readArray, readRaw, writeCremi } from '../src/data/hdf5.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { loadCheckpoint, saveCheckpoint } from '../src/models/checkpoint.js';
import { MimModel } from '../src/models/mim-model.js';
import { main } from '../src/cli/main.js';
import { finetune } from '../src/tasks/segmentation/finetune.js';
import {
  AFFINITIES_KEY,
  predictAffinities,
  predictAffinitiesToFile,
} from '../src/tasks/segmentation/predict.js';

// The smallest model that exercises every part: one transformer block, a 2x2x2 patch grid.
const TINY = {
  seed: 3,
  model: {
    embedDim: 32,
    depth: 1,
    heads: 2,
    decoderDim: 16,
    decoderHeads: 2,
    crop: [8, 32, 32],
    patch: [4, 16, 16],
  },
  finetune: { steps: 8, batchSize: 2, lr: 1e-2, validEvery: 4, loss: 'bce', boundaryWeight: 1 },
} as const;

function tinyConfig(extra: Record<string, unknown> = {}): Config {
  return resolveConfig({ ...structuredClone(TINY), ...extra });
}

const tmp = () => mkdtempSync(join(tmpdir(), 'dbmim-seg-'));
// 8 sections 48x48: large enough for 8x32x32 crops at several positions.
const vol = generateSynthetic({ shape: [8, 48, 48], seed: 11, cellSize: 12 });

/** A MIM checkpoint of the tiny config after a few updates (weights differ from any fresh init). */
async function mimCheckpoint(config: Config): Promise<string> {
  const mim = new MimModel(config.model, config.optim, Rng.fromSeed(99));
  const n = 8 * 32 * 32;
  const crop = new Float32Array(n);
  for (let z = 0; z < 8; z++)
    for (let y = 0; y < 32; y++)
      crop.set(vol.raw.data.subarray((z * 48 + y) * 48, (z * 48 + y) * 48 + 32), (z * 32 + y) * 32);
  const mask = Uint8Array.from({ length: mim.numPatches }, (_, i) => (i % 4 === 0 ? 0 : 1));
  for (let i = 0; i < 2; i++) mim.trainStep(crop, 1, mask);
  // Where a pretraining run keeps its MIM model: RUN/checkpoint/model.
  const dir = join(tmp(), 'run', 'checkpoint', 'model');
  await mim.save(dir);
  mim.dispose();
  return dir;
}

test.before(async () => {
  await selectBackend('wasm');
});

test('finetune: a few steps lower the loss on fixed held-out crops; same seed, same curve; files written', async () => {
  const config = tinyConfig();
  const out = join(tmp(), 'run');
  const before = tf.memory().numTensors;
  const r = await finetune({ config, encoderDir: null, train: vol, valid: vol, validCrops: 2, outDir: out });
  assert.is(tf.memory().numTensors, before, 'no tensors leak (the network is disposed)');
  assert.is(r.trainLoss.length, 8);
  assert.equal(
    r.validLoss.map((p) => p.step),
    [0, 4, 8],
  );
  // Held-out BCE starts near the entropy of the targets (~0.68) and must fall at every validation.
  const [v0, v1, v2] = r.validLoss.map((p) => p.loss) as [number, number, number];
  assert.ok(v1 < v0 && v2 < v1 && v2 < v0 - 0.01, `validation loss ${v0} -> ${v1} -> ${v2} should drop`);
  assert.is(r.encoder, 'scratch');
  assert.ok(existsSync(join(out, 'model', 'manifest.json')));
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(lines.filter((l) => l.type === 'train').length, 8);
  assert.is(lines.filter((l) => l.type === 'valid').length, 3);
  assert.is(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).config.seed, 3);
  // Reproducible: the same seed gives the same first losses.
  const again = await finetune({
    config: tinyConfig({ finetune: { ...TINY.finetune, steps: 2, validEvery: 0 } }),
    encoderDir: null,
    train: vol,
  });
  assert.equal(
    again.trainLoss.map((p) => p.loss),
    r.trainLoss.slice(0, 2).map((p) => p.loss),
  );
});

test('finetune: the encoder comes from a MIM checkpoint by name; wrong shapes name the tensor', async () => {
  const config = tinyConfig({ finetune: { ...TINY.finetune, steps: 0 } });
  const dir = await mimCheckpoint(config);
  const ck = loadCheckpoint(dir);
  const r = await finetune({ config, encoderDir: dir, train: vol, keepModel: true });
  const net = r.net!;
  try {
    assert.is(r.encoder, dir);
    const enc = net.params.list('encoder/');
    assert.ok(enc.length > 5);
    for (const p of enc) {
      const want = ck.tensors.get(p.name);
      assert.ok(want, `checkpoint has ${p.name}`);
      assert.equal(Array.from(p.variable.dataSync()), Array.from(want!.data), p.name);
    }
  } finally {
    net.dispose();
  }
  // A pretraining run's output directory resolves to its checkpoint/model.
  const viaRun = await finetune({ config, encoderDir: join(dir, '..', '..'), train: vol });
  assert.is(viaRun.encoder, dir);
  // The same weights through the DI token the pretraining trainer publishes.
  const mim = await MimModel.load(dir);
  const c = createRunContainer(config);
  c.register(TOKENS.PretrainedEncoder, { useValue: mim });
  const viaToken = await finetune({ config, container: c, train: vol, keepModel: true });
  const w = viaToken.net!.params.get('encoder/patch_embed/w')!.variable.dataSync();
  assert.equal(Array.from(w), Array.from(ck.tensors.get('encoder/patch_embed/w')!.data));
  assert.is(viaToken.encoder, `DI token ${String(TOKENS.PretrainedEncoder)}`);
  viaToken.net!.dispose();
  mim.dispose();

  // A checkpoint whose encoder norm has the wrong shape.
  const bad = join(tmp(), 'bad');
  const tensors = [...ck.tensors.values()].map((t) =>
    t.name === 'encoder/norm/g' ? { ...t, shape: [7], data: new Float32Array(7) } : t,
  );
  await saveCheckpoint(bad, tensors, { config: ck.manifest.config });
  const before = tf.memory().numTensors;
  let msg = '';
  try {
    await finetune({ config, encoderDir: bad, train: vol });
  } catch (e) {
    assert.ok(e instanceof CheckpointError);
    msg = (e as Error).message;
  }
  assert.match(msg, /tensor 'encoder\/norm\/g' has shape \[7\], expected \[32\]/);
  assert.is(tf.memory().numTensors, before, 'the half-built network is disposed');
  // Weights without a model config for a different width: every mismatch is named.
  const wide = new MimModel(
    resolveConfig({ model: { ...TINY.model, embedDim: 16 } }).model,
    config.optim,
    Rng.fromSeed(1),
  );
  try {
    await finetune({ config, encoderWeights: wide.encoderWeights(), train: vol });
    assert.unreachable('should throw');
  } catch (e) {
    assert.match(
      (e as Error).message,
      /tensor 'encoder\/patch_embed\/w' has shape \[1024,16\], expected \[1024,32\]/,
    );
  } finally {
    wide.dispose();
  }
  // A directory without encoder weights.
  const empty = join(tmp(), 'empty');
  await saveCheckpoint(empty, [{ name: 'x', shape: [1], dtype: 'float32', data: new Float32Array(1) }]);
  try {
    await finetune({ config, encoderDir: empty, train: vol });
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, /no encoder weights/);
  }
});

test('predictAffinities: [3, D, H, W] in [0, 1] for a volume that is not a multiple of the window', async () => {
  const config = tinyConfig({ finetune: { ...TINY.finetune, steps: 1 } });
  const r = await finetune({ config, encoderDir: null, train: vol, keepModel: true });
  const net = r.net!;
  try {
    const v = generateSynthetic({ shape: [10, 40, 36], seed: 5, cellSize: 12 });
    const before = tf.memory().numTensors;
    let calls = 0;
    const aff = await predictAffinities(net, v.raw, { overlap: 0.25, batch: 4, onProgress: () => calls++ });
    assert.is(tf.memory().numTensors, before);
    assert.is(aff.length, 3 * 10 * 40 * 36);
    assert.ok(calls >= 1);
    let lo = Infinity;
    let hi = -Infinity;
    for (const a of aff) {
      lo = Math.min(lo, a);
      hi = Math.max(hi, a);
    }
    assert.ok(lo >= 0 && hi <= 1 && hi > lo, `range [${lo}, ${hi}]`);
    // A volume smaller than the window on every axis is padded and still predicted.
    const small = generateSynthetic({ shape: [3, 20, 20], seed: 6, cellSize: 8 });
    assert.is((await predictAffinities(net, small.raw)).length, 3 * 3 * 20 * 20);

    // Streamed to a file in tiles of 16 (several per section, windows of 32 overlap two tiles): the same
    // values as the whole volume in memory; sections [2, 9) as the sub-volume, with its offset.
    const dir = tmp();
    const file = join(dir, 'v.h5');
    await writeCremi(file, { raw: v.raw, labels: v.labels, resolution: [40, 4, 4] });
    const stored = await readRaw(file);
    const inMemory = await predictAffinities(net, stored, { overlap: 0.25, batch: 3 });
    const streamed = join(dir, 'aff.h5');
    const r = await predictAffinitiesToFile(net, { file, key: 'volumes/raw' }, streamed, {
      overlap: 0.25,
      batch: 3,
      tile: 16,
    });
    assert.equal(r.shape, [10, 40, 36]);
    const s = await readArray(streamed, AFFINITIES_KEY);
    assert.equal(s.shape, [3, 10, 40, 36]);
    assert.ok(s.data.length === inMemory.length && inMemory.every((a, i) => a === s.data[i]), 'same values');
    const sub = await readRaw(file, 'volumes/raw', { offset: [2, 0, 0], size: [7, 40, 36] });
    const subAff = await predictAffinities(net, sub, { overlap: 0.25, tile: 16 });
    await predictAffinitiesToFile(net, { file, key: 'volumes/raw', z: [2, 9] }, streamed, {
      overlap: 0.25,
      tile: 24,
    });
    const p = await readArray(streamed, AFFINITIES_KEY);
    assert.equal(p.shape, [3, 7, 40, 36]);
    assert.ok(
      subAff.every((a, i) => a === p.data[i]),
      'sections [2, 9)',
    );
    assert.is(tf.memory().numTensors, before);
  } finally {
    net.dispose();
  }
});

test('cli: finetune a few steps, then predict writes the affinities dataset', async () => {
  const dir = tmp();
  const data = join(dir, 'vol.h5');
  const v = generateSynthetic({ shape: [12, 48, 48], seed: 2, cellSize: 12 });
  await writeCremi(data, { raw: v.raw, labels: v.labels, resolution: [40, 4, 4] });
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({ model: TINY.model, finetune: { batchSize: 1, validEvery: 1 } }));
  const out = join(dir, 'run');
  const log = console.log;
  const err = process.stderr.write.bind(process.stderr);
  const printed: string[] = [];
  console.log = (s: string) => printed.push(s);
  const errs: string[] = [];
  process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
  const cerr = console.error;
  console.error = (s: string) => errs.push(s);
  let code1: number;
  let code2: number;
  let code3: number;
  try {
    code1 = await main([
      'node',
      'dbmim',
      'finetune',
      '--scratch',
      '--data',
      data,
      '--steps',
      '2',
      '--seed',
      '4',
      '--out',
      out,
      '--config',
      cfg,
      '--train-z',
      '0,8',
      '--valid-z',
      '8,12',
      '--valid-crops',
      '1',
    ]);
    code2 = await main([
      'node',
      'dbmim',
      'predict',
      '--model',
      join(out, 'model'),
      '--data',
      data,
      '--out',
      join(dir, 'aff.h5'),
      '--z',
      '2,11',
    ]);
    code3 = await main(['node', 'dbmim', 'finetune', '--data', data, '--out', out]);
  } finally {
    console.log = log;
    console.error = cerr;
    process.stderr.write = err;
  }
  assert.is(code1, 0, errs.join('\n'));
  assert.is(code2, 0);
  assert.is(code3, 1, 'neither --encoder nor --scratch is an error');
  const summary = JSON.parse(printed[0]!);
  assert.is(summary.steps, 2);
  assert.equal(
    summary.validLoss.map((p: { step: number }) => p.step),
    [0, 1, 2],
  );
  for (const f of ['model/manifest.json', 'metrics.jsonl', 'config.json'])
    assert.ok(existsSync(join(out, f)), f);
  const a = await readArray(join(dir, 'aff.h5'), AFFINITIES_KEY);
  assert.equal(a.shape, [3, 9, 48, 48]);
  assert.is(a.dtype, 'float32');
  assert.equal(a.resolution, [40, 4, 4]);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AFFINITY_INPUT_SIGMA, AffinityNet, standardizeSections } from '../src/models/affinity-net.js';
import { CheckpointError, ConfigError, InputError } from '../src/core/errors.js';
import { InPlaneUNet } from '../src/models/affinity-unet.js';
import { ParamStore } from '../src/models/params.js';

/*
 * The affinity network's optional in-plane branch (a small U-Net per section on the raw input, and an
 * in-plane fusion kernel): it learns, leaks no tensors, its weights have the shapes it declares, its
 * field of view reaches beyond its 3x3 kernels; the validation loss is the training objective.
 */

test('affinity net: the in-plane branch trains (loss falls), leaks nothing, declares its weights', async () => {
  await selectBackend('wasm');
  const cfg = resolveConfig({
    model: { crop: [4, 32, 32], patch: [4, 16, 16], embedDim: 16, depth: 1, heads: 2 },
    finetune: { steps: 30, lr: 1e-2 },
  });
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
    inPlaneChannels: [4, 8],
    fuseKernel: 3,
  });
  const names = net.namedWeights().map((w) => `${w.name}:${w.tensor.shape}`);
  assert.ok(names.includes('seg/in_plane/down/0/w:3,3,1,4'), names.join(' '));
  assert.ok(names.includes('seg/in_plane/down/1/w:3,3,4,8'));
  assert.ok(names.includes('seg/in_plane/up/0/w:8,16'), 'a 2x in-plane upsampling to 4 channels');
  assert.ok(names.includes('seg/in_plane/merge/0/w:3,3,4,4'));
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
  const weight = new Float32Array(3 * vox).fill(1).map((_, i) => 1 + (i % 3));
  const before0 = net.loss(raw, 1, tgt, weight);
  const step0 = net.trainStep(raw, 1, tgt, weight).loss;
  assert.ok(Math.abs(before0 - step0) < 1e-5, `validation loss ${before0} = training loss ${step0}`);
  for (let i = 1; i < 30; i++) losses.push(net.trainStep(raw, 1, tgt).loss);
  assert.is(tf.memory().numTensors, before, 'no tensor leaks over 30 steps');
  assert.ok(losses[28]! < 0.5 * losses[0]!, `loss ${losses[0]} -> ${losses[28]}`);
  const p = net.predict(raw, 1);
  assert.is(p.length, 3 * vox);
  assert.ok(p[2 * vox + 16]! < 0.5 && p[2 * vox + 5]! > 0.5, 'the stripe edge is predicted cut');
  net.dispose();
});

test('in-plane U-Net: output shape, a field of view of more than 5 px, sections kept apart', async () => {
  await selectBackend('wasm');
  const params = new ParamStore(Rng.fromSeed(2));
  const unet = new InPlaneUNet(params.scope('u'), [2, 4, 4]);
  const before = tf.memory().numTensors;
  // gradient of one output voxel (section 1, centre) with respect to the input
  const g = tf.tidy(() =>
    tf.grad((x: tf.Tensor) => {
      const y = unet.apply(x as tf.Tensor5D);
      assert.equal(y.shape, [1, 2, 16, 16, 2]);
      return tf.sum(tf.slice(y, [0, 1, 8, 8, 0], [1, 1, 1, 1, 2]));
    })(tf.randomNormal([1, 2, 16, 16, 1], 0, 1, 'float32', 3) as tf.Tensor5D),
  );
  const d = g.dataSync();
  g.dispose();
  assert.is(tf.memory().numTensors, before);
  const at = (z: number, y: number, x: number) => Math.abs(d[(z * 16 + y) * 16 + x]!);
  // two 3x3 convs at full resolution see 2 px: the U-Net's coarse levels reach 6 px and more
  let far = 0;
  for (let y = 0; y < 16; y++)
    for (let x = 0; x < 16; x++) if (Math.max(Math.abs(y - 8), Math.abs(x - 8)) >= 6) far += at(1, y, x);
  assert.ok(far > 0, 'voxels 6+ px away move the output');
  let other = 0;
  for (let i = 0; i < 256; i++) other += at(0, Math.floor(i / 16), i % 16);
  assert.is(other, 0, 'another section does not');
  // odd in-plane sizes: the output keeps the input's size
  const odd = tf.tidy(() => unet.apply(tf.ones([1, 1, 7, 6, 1]) as tf.Tensor5D).shape);
  assert.equal(odd, [1, 1, 7, 6, 2]);
  assert.is(tf.memory().numTensors, before);
  assert.throws(() => new InPlaneUNet(params.scope('v'), [4, 0]), /positive integers/);
  params.dispose();
});

test('per-section input normalization: each section standardized on its own; saved with the network', async () => {
  await selectBackend('wasm');
  const [b, d, h, w] = [2, 3, 4, 5];
  const rng = Rng.fromSeed(5);
  const base = Float32Array.from({ length: b * d * h * w }, () => rng.uniform());
  // every section gets its own brightness and contrast: the standardized sections do not change
  const shifted = base.map((v, i) => {
    const section = Math.floor(i / (h * w));
    return 0.1 + 0.3 * section + (0.5 + 0.25 * section) * v;
  });
  const a = tf.tidy(() => standardizeSections(tf.tensor5d(base, [b, d, h, w, 1])).dataSync());
  const c = tf.tidy(() => standardizeSections(tf.tensor5d(shifted, [b, d, h, w, 1])).dataSync());
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs(a[i]! - c[i]!) < 1e-4, `voxel ${i}: ${a[i]} vs ${c[i]}`);
  for (let s = 0; s < b * d; s++) {
    const sec = Array.from(a.subarray(s * h * w, (s + 1) * h * w));
    const m = sec.reduce((x, y) => x + y, 0) / sec.length;
    const v = sec.reduce((x, y) => x + (y - m) ** 2, 0) / sec.length;
    assert.ok(Math.abs(m) < 1e-5 && Math.abs(v - 1) < 1e-3, `section ${s}: mean ${m}, variance ${v}`);
  }
  // a constant section (window padding) maps to 0, not NaN
  const flat = tf.tidy(() => standardizeSections(tf.fill([1, 1, h, w, 1], 0.7) as tf.Tensor5D).dataSync());
  assert.ok(
    flat.every((v) => Math.abs(v) < 1e-3),
    `constant section -> ${flat[0]}`,
  );

  // the network saves its resolved normalization; a checkpoint without the field loads as `fixed`
  const cfg = resolveConfig({
    model: { crop: [4, 32, 32], patch: [4, 16, 16], embedDim: 16, depth: 1, heads: 2 },
    finetune: { steps: 2 },
  });
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-norm-'));
  try {
    const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
      inPlaneChannels: [4, 8],
      inputNorm: 'section',
    });
    assert.is(net.inputNorm, 'section');
    const raw = Float32Array.from({ length: 4 * 32 * 32 }, () => rng.uniform());
    const want = net.predict(raw, 1);
    await net.save(join(dir, 'a'));
    const back = await AffinityNet.load(join(dir, 'a'));
    assert.is(back.inputNorm, 'section');
    assert.equal(Array.from(back.predict(raw, 1)), Array.from(want));
    back.dispose();
    const fixed = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), { inPlaneChannels: [4, 8] });
    assert.is(fixed.inputNorm, 'fixed', 'the default');
    const other = fixed.predict(raw, 1);
    assert.ok(
      other.some((v, i) => Math.abs(v - want[i]!) > 1e-4),
      'the two normalizations differ',
    );
    fixed.dispose();
    net.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('affinity net: input smoothing feeds only the full-resolution path, is saved, old checkpoints load unsmoothed', async () => {
  await selectBackend('wasm');
  const cfg = resolveConfig({
    model: { crop: [4, 32, 32], patch: [4, 16, 16], embedDim: 16, depth: 1, heads: 2 },
    finetune: { steps: 2 },
  });
  const rng = Rng.fromSeed(5);
  const raw = Float32Array.from({ length: 4 * 32 * 32 }, () => rng.uniform());
  const plain = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
    inPlaneChannels: [4, 8],
    inputSigma: 0,
  });
  const smooth = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
    inPlaneChannels: [4, 8],
    inputSigma: 1,
  });
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-sigma-'));
  try {
    const before = tf.memory().numTensors;
    // the encoder sees the raw it was pretrained on; the boundaries' path sees the smoothed raw
    const e0 = plain.encode(raw, 1);
    const e1 = smooth.encode(raw, 1);
    assert.equal(Array.from(e1.dataSync()), Array.from(e0.dataSync()));
    tf.dispose([e0, e1]);
    const p0 = plain.predict(raw, 1);
    const want = smooth.predict(raw, 1);
    assert.ok(
      want.some((v, i) => Math.abs(v - p0[i]!) > 1e-4),
      'smoothing changes the affinities',
    );
    // a constant image is its own smoothing (mirrored borders): the same affinities either way
    const flat = new Float32Array(raw.length).fill(0.6);
    const f0 = plain.predict(flat, 1);
    const f1 = smooth.predict(flat, 1);
    assert.ok(
      f1.every((v, i) => Math.abs(v - f0[i]!) < 1e-5),
      'constant input is unchanged by smoothing',
    );
    assert.is(tf.memory().numTensors, before, 'no tensor leaks');

    await smooth.save(join(dir, 's'));
    const back = await AffinityNet.load(join(dir, 's'));
    assert.is(back.inputSigma, 1);
    assert.equal(Array.from(back.predict(raw, 1)), Array.from(want));
    back.dispose();
    // a checkpoint written before the field existed loads without smoothing; a bad value is refused
    const mf = join(dir, 's', 'manifest.json');
    const m = JSON.parse(readFileSync(mf, 'utf8')) as { config: { options: Record<string, unknown> } };
    delete m.config.options.inputSigma;
    writeFileSync(mf, JSON.stringify(m));
    const old = await AffinityNet.load(join(dir, 's'));
    assert.is(old.inputSigma, 0);
    old.dispose();
    m.config.options.inputSigma = 'wide';
    writeFileSync(mf, JSON.stringify(m));
    await AffinityNet.load(join(dir, 's')).then(
      () => assert.unreachable('a string sigma must be refused'),
      (e: unknown) => assert.ok(e instanceof CheckpointError && /inputSigma/.test(e.message), String(e)),
    );
    assert.throws(
      () => new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), { inputSigma: -1 }),
      (e: unknown) => e instanceof InputError && /inputSigma/.test((e as Error).message),
    );
    const dflt = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), { inPlaneChannels: [4, 8] });
    assert.is(dflt.inputSigma, AFFINITY_INPUT_SIGMA);
    dflt.dispose();
  } finally {
    plain.dispose();
    smooth.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token fusion into the U-Net: tokens reach every output voxel through the U-Net, saved, checked', async () => {
  await selectBackend('wasm');
  const cfg = resolveConfig({
    model: { crop: [4, 32, 32], patch: [4, 16, 16], embedDim: 16, depth: 1, heads: 2 },
    finetune: { steps: 30, lr: 1e-2 },
  });
  const opts = { inPlaneChannels: [4, 4, 4, 4, 8], tokenFusion: 'unet' as const };
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), opts);
  const names = net.namedWeights().map((w) => `${w.name}:${w.tensor.shape}`);
  // the tokens are projected to the U-Net's level 4 (1/16 in-plane: the patch's resolution) ...
  assert.ok(names.includes('seg/proj/w:16,8'), names.join(' '));
  // ... and nothing upsamples them on their own
  assert.not.ok(
    names.some((n) => n.startsWith('seg/up/') || n.startsWith('seg/fuse/')),
    names.join(' '),
  );
  const vox = 4 * 32 * 32;
  const raw = new Float32Array(vox).map((_, i) => 0.5 + 0.3 * Math.sin(i * 0.37));
  const before = tf.memory().numTensors;
  const a = net.predict(raw, 1);
  // a change of the encoder's output layer norm moves the affinities of every section
  const ln = net.params.list('encoder/').find((p) => p.name.endsWith('norm/b'))!;
  tf.tidy(() => ln.variable.assign(tf.add(ln.variable, 0.5)));
  const b = net.predict(raw, 1);
  const moved = [0, 1, 2, 3].map((z) => {
    let m = 0;
    for (let v = z * 1024; v < (z + 1) * 1024; v++)
      m = Math.max(m, Math.abs(a[2 * vox + v]! - b[2 * vox + v]!));
    return m;
  });
  assert.ok(
    moved.every((m) => m > 1e-4),
    `x affinities moved per section: ${moved}`,
  );
  // it trains without leaks (the broadcast over the patch's sections has a gradient)
  const tgt = new Float32Array(3 * vox).fill(1);
  for (let v = 0; v < vox; v++) if (v % 32 === 15) tgt[2 * vox + v] = 0;
  const l0 = net.trainStep(raw, 1, tgt).loss;
  let l = l0;
  for (let i = 1; i < 30; i++) l = net.trainStep(raw, 1, tgt).loss;
  assert.ok(l < 0.7 * l0, `loss ${l0} -> ${l}`);
  assert.is(tf.memory().numTensors, before, 'no tensor leaks');
  // saved with the network: it reloads as the same function
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-unet-fusion-'));
  try {
    await net.save(dir);
    const back = await AffinityNet.load(dir);
    assert.is(back.tokenFusion, 'unet');
    assert.equal(Array.from(back.predict(raw, 1)), Array.from(net.predict(raw, 1)));
    back.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  net.dispose();
  // too few levels for a 16 px patch: one clear error naming the field
  assert.throws(
    () =>
      new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(1), {
        inPlaneChannels: [4, 8],
        tokenFusion: 'unet',
      }),
    (e: Error) => e instanceof ConfigError && /at least 5 levels \(inPlaneChannels\)/.test(e.message),
  );
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type ModelConfig } from '../src/core/config.js';
import { CheckpointError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { MimModel } from '../src/models/mim-model.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { normalizePatches } from '../src/models/mim-targets.js';
import { PatchGrid } from '../src/models/patch-grid.js';
import { INPUT_MEAN, INPUT_STD } from '../src/models/vit-encoder.js';

/*
 * The MIM model and the affinity network on small shapes: learning, checkpoints, transfer, leaks and
 * determinism. Crop 8x32x32 with 4x8x8 patches (32 patches) keeps every test well under a few seconds.
 */

const tmp = mkdtempSync(join(tmpdir(), 'dbmim-models-'));

function smallConfig(model: Partial<ModelConfig> = {}, lr = 2e-3) {
  return resolveConfig({
    model: {
      crop: [8, 32, 32],
      patch: [4, 8, 8],
      embedDim: 48,
      depth: 2,
      heads: 2,
      decoderDim: 32,
      decoderDepth: 1,
      decoderHeads: 2,
      ...model,
    },
    optim: { lr, warmupSteps: 10 },
    finetune: { steps: 60, lr: 3e-3, batchSize: 2 },
  });
}

const VOLUME = generateSynthetic({ shape: [16, 96, 96], seed: 3 });

/** `batch` crops of `crop` from the synthetic volume at positions drawn from `rng`. */
function crops(rng: Rng, batch: number, crop: [number, number, number]) {
  const [D, H, W] = VOLUME.raw.shape;
  const [d, h, w] = crop;
  const raw = new Float32Array(batch * d * h * w);
  const labels = new Uint32Array(batch * d * h * w);
  for (let b = 0; b < batch; b++) {
    const z0 = rng.int(D - d + 1);
    const y0 = rng.int(H - h + 1);
    const x0 = rng.int(W - w + 1);
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const src = ((z0 + z) * H + y0 + y) * W + x0 + x;
          const dst = b * d * h * w + (z * h + y) * w + x;
          raw[dst] = VOLUME.raw.data[src]!;
          labels[dst] = VOLUME.labels.data[src]!;
        }
  }
  return { raw, labels };
}

/**
 * A predictable pattern for the learning test: a fixed plane wave with a random contrast per crop, so a
 * masked patch's normalized content follows from its position. (With a random phase per crop the model
 * must infer the phase from visible patches; a model this small needs far more than 200 steps for that.)
 */
function waves(rng: Rng, batch: number, crop: [number, number, number]): Float32Array {
  const [d, h, w] = crop;
  const raw = new Float32Array(batch * d * h * w);
  for (let b = 0; b < batch; b++) {
    const amp = rng.uniform(0.2, 0.45);
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          raw[b * d * h * w + (z * h + y) * w + x] = 0.5 + amp * Math.sin(0.3 * x + 0.2 * y + 0.25 * z);
  }
  return raw;
}

/** Per-sample masks with `k(b)` masked patches each. */
function masks(rng: Rng, batch: number, np: number, k: (b: number) => number): Uint8Array {
  const m = new Uint8Array(batch * np);
  for (let b = 0; b < batch; b++) {
    const idx = rng.shuffle(Array.from({ length: np }, (_, i) => i));
    for (let i = 0; i < k(b); i++) m[b * np + idx[i]!] = 1;
  }
  return m;
}

test.before(async () => {
  await selectBackend('wasm');
});

test('MIM: loss falls and held-out reconstructions beat the per-patch mean baseline', () => {
  const cfg = smallConfig({}, 5e-3); // a small model learns this task within 200 steps at 5e-3
  const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0), { totalSteps: 200 });
  const rng = Rng.fromSeed(1);
  const losses: number[] = [];
  for (let s = 0; s < 200; s++) {
    const raw = waves(rng, 4, cfg.model.crop);
    // mixed per-sample ratios: exercises padding of visible tokens
    const mask = masks(rng, 4, model.numPatches, (b) => 16 + 4 * b);
    losses.push(model.trainStep(raw, 4, mask).loss);
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 10));
  const last = mean(losses.slice(-10));
  assert.ok(last < 0.8 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  // held out: predicting the patch's own mean (0 in normalized space) scores mean(target^2) ~ 1
  const held = { raw: waves(Rng.fromSeed(99), 4, cfg.model.crop) };
  const mask = masks(Rng.fromSeed(98), 4, model.numPatches, () => 24);
  const r = model.evaluate(held.raw, 4, mask);
  const g = new PatchGrid(cfg.model.crop, cfg.model.patch);
  const norm = normalizePatches(g.patchify(held.raw, 4), 4 * g.numPatches, g.patchVoxels);
  let base = 0;
  let n = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    for (let i = 0; i < g.patchVoxels; i++) base += norm[p * g.patchVoxels + i]! ** 2;
    n++;
  }
  base /= n * g.patchVoxels;
  assert.ok(r.loss < 0.85 * base, `held-out loss ${r.loss.toFixed(3)} vs baseline ${base.toFixed(3)}`);
  assert.is(r.maskRatio, 0.75);
  // per-patch losses: zero on visible patches, their masked mean is the loss (no extra terms here)
  let s = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) assert.is(r.perPatchLoss[p], 0);
    s += r.perPatchLoss[p]!;
  }
  assert.ok(Math.abs(s / n - r.loss) < 1e-4);
  model.dispose();
});

/**
 * A context-only task: a plane wave along x whose wavelength is the patch width, with a random phase per
 * crop. Every patch of a crop is the same, but no position tells the phase: a masked patch's content
 * follows only from the visible patches (the information path encoder -> decoder).
 */
function phaseWaves(rng: Rng, batch: number, crop: [number, number, number], period: number) {
  const [d, h, w] = crop;
  const raw = new Float32Array(batch * d * h * w);
  for (let b = 0; b < batch; b++) {
    const phase = rng.uniform(0, 2 * Math.PI);
    for (let i = 0; i < d * h * w; i++)
      raw[b * d * h * w + i] = 0.5 + 0.3 * Math.sin((2 * Math.PI * (i % w)) / period + phase);
  }
  return raw;
}

test('MIM: the encoder standardizes raw voxels with INPUT_MEAN / INPUT_STD before the patch projection', () => {
  const cfg = smallConfig({ embedDim: 16, depth: 1, decoderDim: 16 });
  const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
  // raw EM intensities in [0, 1] have mean ~0.5 and std ~0.17: standardized, the content is not drowned
  // by the unit-amplitude position embedding
  assert.is(INPUT_MEAN, 0.5);
  assert.is(INPUT_STD, 0.2);
  const pv = model.encoder.grid.patchVoxels;
  const pe = model.encoder.patchEmbed;
  pe.b!.assign(tf.range(0, 16).div(10) as tf.Tensor1D);
  const x = tf.tensor2d([...new Array<number>(pv).fill(0.5), ...new Array<number>(pv).fill(0.7)], [2, pv]);
  const out = model.encoder.project(x).arraySync();
  const b = pe.b!.arraySync() as number[];
  const colSum = tf.sum(pe.w, 0).arraySync() as number[];
  for (let j = 0; j < 16; j++) {
    // mean intensity -> 0 -> the bias alone; mean + 1 std -> 1 -> bias + column sum of w
    assert.ok(Math.abs(out[0]![j]! - b[j]!) < 1e-5, `row 0 col ${j}: ${out[0]![j]} vs ${b[j]}`);
    assert.ok(Math.abs(out[1]![j]! - b[j]! - colSum[j]!) < 1e-4, `row 1 col ${j}`);
  }
  x.dispose();
  model.dispose();
});

test('MIM: masked predictions depend on the visible patches of their own sample (MAE and SimMIM)', () => {
  for (const mode of ['mae', 'simmim'] as const) {
    const cfg = smallConfig({ embedDim: 16, depth: 1, decoderDim: 16, mode });
    const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
    const g = model.encoder.grid;
    const np = model.numPatches;
    const rng = Rng.fromSeed(5);
    const raw = new Float32Array(2 * g.cropVoxels);
    for (let i = 0; i < raw.length; i++) raw[i] = rng.next();
    const mask = new Uint8Array(2 * np);
    for (let i = 0; i < mask.length; i++) mask[i] = i % 2; // odd patches masked
    mask[np] = 1; // sample 1 has one visible patch fewer: its tokens are padded in MAE mode
    const before = g.patchify(model.reconstruct(raw, 2, mask), 2);
    // change visible patch 0 of sample 0 (z 0..3, y 0..7, x 0..7)
    const edited = raw.slice();
    for (let z = 0; z < 4; z++)
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) edited[(z * 32 + y) * 32 + x] = rng.next();
    const after = g.patchify(model.reconstruct(edited, 2, mask), 2);
    const change = [0, 0];
    for (let r = 0; r < 2 * np; r++) {
      if (!mask[r]) continue;
      for (let i = 0; i < g.patchVoxels; i++)
        change[r < np ? 0 : 1]! += Math.abs(after[r * g.patchVoxels + i]! - before[r * g.patchVoxels + i]!);
    }
    assert.ok(change[0]! > 1e-2, `${mode}: masked patches of sample 0 moved by ${change[0]}`);
    assert.is(change[1], 0, `${mode}: sample 1 must not see sample 0`);
    model.dispose();
  }
});

test('MIM: a task only the visible patches can solve (random phase) falls well below loss 1.0', () => {
  const cfg = smallConfig({ embedDim: 32, depth: 2, decoderDim: 32 }, 3e-3);
  const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0), { totalSteps: 150 });
  const rng = Rng.fromSeed(7);
  for (let s = 0; s < 150; s++)
    model.trainStep(
      phaseWaves(rng, 4, cfg.model.crop, 8),
      4,
      masks(rng, 4, model.numPatches, () => 24),
    );
  const held = phaseWaves(Rng.fromSeed(99), 4, cfg.model.crop, 8);
  const r = model.evaluate(
    held,
    4,
    masks(Rng.fromSeed(98), 4, model.numPatches, () => 24),
  );
  // predicting the patch mean (0 in normalized space) scores 1.0
  assert.ok(r.loss < 0.3, `held-out loss ${r.loss.toFixed(3)} at mask ratio 0.75`);
  model.dispose();
});

test('MIM: options (simmim, membrane weight, structure, HOG, learned pos) train and report finite losses', () => {
  const cfg = smallConfig({
    mode: 'simmim',
    membraneWeight: 1,
    structureWeight: 0.5,
    hogWeight: 0.5,
    posEmbed: 'learned',
  });
  const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
  assert.ok(model.namedWeights().some((w) => w.name === 'encoder/mask_token'));
  assert.ok(model.namedWeights().some((w) => w.name === 'decoder/hog/w'));
  const rng = Rng.fromSeed(2);
  const { raw } = crops(rng, 2, cfg.model.crop);
  const mask = masks(rng, 2, model.numPatches, () => 20);
  const a = model.trainStep(raw, 2, mask);
  for (let i = 0; i < 5; i++) model.trainStep(raw, 2, mask);
  const b = model.evaluate(raw, 2, mask);
  assert.ok(Number.isFinite(a.loss) && Number.isFinite(b.loss));
  assert.ok(b.loss < a.loss);
  const rec = model.reconstruct(raw, 2, mask);
  assert.is(rec.length, raw.length);
  model.dispose();
});

test('MIM: checkpoint round trip is exact (weights, moments, step, next-step loss)', async () => {
  const cfg = smallConfig();
  const a = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(5));
  const rng = Rng.fromSeed(6);
  const batches = Array.from({ length: 4 }, () => ({
    raw: crops(rng, 2, cfg.model.crop).raw,
    mask: masks(rng, 2, a.numPatches, (b) => 20 + b),
  }));
  for (const bt of batches.slice(0, 3)) a.trainStep(bt.raw, 2, bt.mask);
  const dir = join(tmp, 'mim');
  await a.save(dir, { note: 'x' });
  const b = await MimModel.load(dir);
  assert.is(b.step, 3);
  const wa = a.namedWeights();
  const wb = b.namedWeights();
  assert.equal(
    wa.map((w) => w.name),
    wb.map((w) => w.name),
  );
  wa.forEach((w, i) => assert.equal([...w.tensor.dataSync()], [...wb[i]!.tensor.dataSync()]));
  const sa = a.optimizer.stateTensors();
  const sb = b.optimizer.stateTensors();
  sa.forEach((t, i) => assert.equal([...t.tensor.dataSync()], [...sb[i]!.tensor.dataSync()]));
  const last = batches[3]!;
  assert.is(a.trainStep(last.raw, 2, last.mask).loss, b.trainStep(last.raw, 2, last.mask).loss);
  assert.is(a.evaluate(last.raw, 2, last.mask).loss, b.evaluate(last.raw, 2, last.mask).loss);
  // in-place load (what the trainer uses) restores the same state
  const c = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(77));
  assert.equal(await c.load(dir), { note: 'x' });
  assert.is(c.step, 3);
  a.dispose();
  b.dispose();
  c.dispose();
});

test('MIM: a checkpoint with other shapes gets a clear CheckpointError', async () => {
  const cfg = smallConfig();
  const a = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(5));
  const dir = join(tmp, 'mim-shape');
  await a.save(dir);
  const other = smallConfig({ embedDim: 64 });
  const b = new MimModel(other.model, other.optim, Rng.fromSeed(5));
  await b.load(dir).then(
    () => assert.unreachable('should throw'),
    (e: Error) => {
      assert.instance(e, CheckpointError);
      assert.match(e.message, /tensor 'encoder\/patch_embed\/w' has shape \[256,48\], expected \[256,64\]/);
      assert.match(e.message, /mim-shape/);
    },
  );
  const netCfg = smallConfig({ depth: 3 });
  const net = new AffinityNet(netCfg.model, netCfg.finetune, Rng.fromSeed(1));
  assert.throws(
    () => net.loadEncoder(dir),
    (e: Error) =>
      e instanceof CheckpointError && /missing tensor 'encoder\/blocks\/2\/attn\/qkv\/w'/.test(e.message),
  );
  a.dispose();
  b.dispose();
  net.dispose();
});

test('affinity net: encoder transfer keeps identical tokens; training lowers the loss', async () => {
  const cfg = smallConfig();
  const mim = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(8));
  const rng = Rng.fromSeed(9);
  const { raw } = crops(rng, 2, cfg.model.crop);
  for (let i = 0; i < 2; i++)
    mim.trainStep(
      raw,
      2,
      masks(rng, 2, mim.numPatches, () => 24),
    );
  const dir = join(tmp, 'mim-transfer');
  await mim.save(dir);
  const net = AffinityNet.fromMimCheckpoint(dir, cfg.finetune, Rng.fromSeed(10));
  const t1 = mim.encode(raw, 2);
  const t2 = net.encode(raw, 2);
  assert.equal(t1.shape, [2, 32, 48]);
  assert.equal([...t1.dataSync()], [...t2.dataSync()]);
  tf.dispose([t1, t2]);
  // targets: affinity to the -1 neighbour along z, y, x (same non-zero label)
  const [d, h, w] = cfg.model.crop;
  const v = d * h * w;
  const batch = crops(Rng.fromSeed(11), 2, cfg.model.crop);
  const tgt = new Float32Array(2 * 3 * v);
  const step = [h * w, w, 1];
  for (let b = 0; b < 2; b++)
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const i = (z * h + y) * w + x;
          const l = batch.labels[b * v + i]!;
          [z, y, x].forEach((c, k) => {
            const j = i - step[k]!;
            tgt[(b * 3 + k) * v + i] = c > 0 && l !== 0 && batch.labels[b * v + j] === l ? 1 : 0;
          });
        }
  const first = net.trainStep(batch.raw, 2, tgt).loss;
  let last = first;
  for (let i = 0; i < 40; i++) last = net.trainStep(batch.raw, 2, tgt).loss;
  assert.ok(last < 0.8 * first, `affinity loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  const p = net.predict(batch.raw, 2);
  assert.is(p.length, 2 * 3 * v);
  assert.ok(p.every((q) => q >= 0 && q <= 1));
  assert.throws(
    () => net.trainStep(batch.raw, 2, tgt.subarray(1)),
    /affinity targets: .* expected \[2, 3, 8,32,32\]/,
  );
  // encoder group trains slower: lr scale from finetune.encoderLrScale
  const dir2 = join(tmp, 'aff');
  await net.save(dir2);
  const net2 = await AffinityNet.load(dir2);
  assert.equal([...net2.predict(batch.raw, 2)], [...p]);
  mim.dispose();
  net.dispose();
  net2.dispose();
});

test('MIM: no tensor leak (same count after step 10 and step 200) and bad inputs name the shapes', () => {
  const cfg = smallConfig({ embedDim: 16, depth: 1, decoderDim: 16 });
  const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
  const rng = Rng.fromSeed(1);
  const { raw } = crops(rng, 2, cfg.model.crop);
  let at10 = 0;
  for (let s = 1; s <= 200; s++) {
    model.trainStep(
      raw,
      2,
      masks(rng, 2, model.numPatches, (b) => 10 + 5 * b),
    );
    if (s % 50 === 0)
      model.evaluate(
        raw,
        2,
        masks(rng, 2, model.numPatches, () => 30),
      ); // all but 2 masked
    if (s === 10) at10 = tf.memory().numTensors;
  }
  assert.is(tf.memory().numTensors, at10);
  model.embedPatches(raw, 2).dispose();
  model.encode(raw, 2).dispose();
  assert.is(tf.memory().numTensors, at10);
  assert.throws(
    () => model.trainStep(raw.subarray(1), 2, new Uint8Array(64)),
    /raw: 16383 values, expected batch 2 x crop \[8,32,32\]/,
  );
  assert.throws(
    () => model.trainStep(raw, 2, new Uint8Array(10)),
    /mask: 10 values, expected batch 2 x 32 patches/,
  );
  model.dispose();
});

test('MIM: one seed gives identical losses over 20 steps in two runs', () => {
  const run = () => {
    const cfg = smallConfig({ embedDim: 32, depth: 1 });
    const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(42));
    const rng = Rng.fromSeed(43);
    const out: number[] = [];
    for (let s = 0; s < 20; s++) {
      const { raw } = crops(rng, 2, cfg.model.crop);
      out.push(
        model.trainStep(
          raw,
          2,
          masks(rng, 2, model.numPatches, (b) => 20 + b),
        ).loss,
      );
    }
    model.dispose();
    return out;
  };
  const a = run();
  assert.equal(run(), a);
  const cfg = smallConfig({ embedDim: 32, depth: 1 });
  const other = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(41));
  assert.not.equal(
    [...other.namedWeights()[0]!.tensor.dataSync().slice(0, 4)],
    [
      ...new MimModel(cfg.model, cfg.optim, Rng.fromSeed(42))
        .namedWeights()[0]!
        .tensor.dataSync()
        .slice(0, 4),
    ],
  );
  other.dispose();
});

test.run();

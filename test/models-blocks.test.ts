import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { dense } from '../src/models/dense.js';
import { layerNorm } from '../src/models/layer-norm.js';
import { gelu } from '../src/models/gelu.js';
import { attentionCore, keyBiasFromCounts } from '../src/models/attention.js';
import { batchMatMul } from '../src/models/batch-matmul.js';
import { transpose2d } from '../src/models/transpose.js';
import { RowSelection } from '../src/models/select-rows.js';
import { Conv3d, ConvTranspose3d } from '../src/models/conv3d.js';
import { ConvInPlane, conv2dSame } from '../src/models/conv-inplane.js';
import { avgPool2 } from '../src/models/avg-pool2.js';
import { sumRows } from '../src/models/reduce.js';
import { ParamStore } from '../src/models/params.js';
import { TransformerBlock } from '../src/models/transformer-block.js';
import { PatchGrid } from '../src/models/patch-grid.js';
import { sincosPosEmbed3d } from '../src/models/pos-embed.js';
import { warmupCosine } from '../src/models/schedule.js';
import { AdamW } from '../src/models/adamw.js';
import { normalizePatches, hogFeatures, hogDim } from '../src/models/mim-targets.js';
import { upsampleStages } from '../src/models/affinity-net.js';

/*
 * Building blocks: every hand-written backward against central finite differences on tiny shapes, the
 * padding mask, patch geometry, the schedule and one AdamW update computed by hand.
 */

test.before(async () => {
  await selectBackend('wasm');
});

function randTensor(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  );
}

/**
 * Compare tf.grads of L = sum(f(inputs) * R) with central differences over every input entry.
 * Returns the largest |analytic - numeric| relative to max(1, |numeric|).
 */
function gradCheck(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  seed: number,
  eps = 1e-2,
): number {
  const rng = Rng.fromSeed(seed);
  const out0 = tf.tidy(() => f(...inputs));
  const r = randTensor(rng, out0.shape);
  out0.dispose();
  const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)) as tf.Scalar;
  const analytic = tf
    .tidy(() => tf.grads(loss)(inputs))
    .map((g) => {
      const d = g.dataSync().slice();
      g.dispose();
      return d;
    });
  let worst = 0;
  inputs.forEach((x, i) => {
    const base = x.dataSync().slice();
    for (let j = 0; j < base.length; j++) {
      const evalAt = (v: number) => {
        const data = base.slice();
        data[j] = v;
        return tf.tidy(() => {
          const xs = inputs.map((y, k) => (k === i ? tf.tensor(data, x.shape) : y));
          return loss(...xs).dataSync()[0]!;
        });
      };
      const num = (evalAt(base[j]! + eps) - evalAt(base[j]! - eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(analytic[i]![j]! - num) / Math.max(1, Math.abs(num)));
    }
  });
  r.dispose();
  return worst;
}

test('dense: custom backward matches finite differences (with and without bias)', () => {
  const rng = Rng.fromSeed(1);
  const x = randTensor(rng, [5, 4]);
  const w = randTensor(rng, [4, 3]);
  const b = randTensor(rng, [3]);
  assert.ok(gradCheck((x, w, b) => dense(x as tf.Tensor2D, w!, b), [x, w, b], 2) < 2e-3);
  assert.ok(gradCheck((x, w) => dense(x as tf.Tensor2D, w!), [x, w], 3) < 2e-3);
  // forward is the plain product plus bias
  const want = tf.tidy(() => tf.add(tf.matMul(x, w), b).dataSync());
  const got = tf.tidy(() => dense(x as tf.Tensor2D, w, b).dataSync());
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5));
  tf.dispose([x, w, b]);
});

test('dense on data: no input gradient is computed (kernel count), the same weight gradients', async () => {
  const rng = Rng.fromSeed(4);
  const x = tf.variable(randTensor(rng, [5, 4]));
  const w = tf.variable(randTensor(rng, [4, 3]));
  const b = tf.variable(randTensor(rng, [3]));
  const r = randTensor(rng, [5, 3]);
  const before = tf.memory().numTensors;
  const loss = () => tf.sum(tf.mul(dense(x as tf.Tensor as tf.Tensor2D, w, b), r)) as tf.Scalar;
  // gradients of w and b only (x is data), then of x too; each backward's matmuls counted
  const run = async (vars: tf.Variable[]) => {
    let out: Float32Array[] = [];
    const prof = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(loss, vars);
      out = [w, b].map((v) => grads[v.name]!.dataSync().slice() as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
    });
    // dX runs as the dense kernel itself (no bias), the others as matmuls or SIMD loops
    const matmul = (name: string) => name === 'BatchMatMul' || name === 'DbmimDense';
    return { out, matmuls: prof.kernels.filter((k) => matmul(k.name)).length };
  };
  const data = await run([w, b]);
  const trained = await run([x, w, b]);
  assert.is(trained.matmuls, data.matmuls + 1, 'dX = dY · Wᵀ only when x is trained');
  assert.equal(
    data.out.map((a) => Array.from(a)),
    trained.out.map((a) => Array.from(a)),
  );
  tf.dispose([x, w, b, r]);
  assert.is(tf.memory().numTensors, before - 4);
});

test('layer norm: forward normalizes rows, backward matches finite differences', () => {
  const rng = Rng.fromSeed(4);
  const x = randTensor(rng, [3, 6], 2);
  const g = randTensor(rng, [6]);
  const b = randTensor(rng, [6]);
  const ones = tf.ones([6]);
  const zeros = tf.zeros([6]);
  const y = tf.tidy(() => layerNorm(x as tf.Tensor2D, ones, zeros).arraySync() as number[][]);
  for (const row of y) {
    const m = row.reduce((a, v) => a + v, 0) / row.length;
    const v = row.reduce((a, u) => a + (u - m) ** 2, 0) / row.length;
    assert.ok(Math.abs(m) < 1e-5);
    assert.ok(Math.abs(v - 1) < 1e-3);
  }
  assert.ok(gradCheck((x, g, b) => layerNorm(x as tf.Tensor2D, g!, b!), [x, g, b], 5) < 3e-3);
  tf.dispose([x, g, b, ones, zeros]);
});

test('gelu: values at hand-computed points and backward', () => {
  const x = tf.tensor1d([-2, 0, 1]);
  const y = tf.tidy(() => gelu(x).dataSync());
  const s = (v: number) => 1 / (1 + Math.exp(-1.702 * v));
  [-2, 0, 1].forEach((v, i) => assert.ok(Math.abs(y[i]! - v * s(v)) < 1e-6));
  const rng = Rng.fromSeed(6);
  const z = randTensor(rng, [7], 2);
  assert.ok(gradCheck((z) => gelu(z!), [z], 7) < 2e-3);
  tf.dispose([x, z]);
});

test('attention core: backward matches finite differences, with padded keys', () => {
  const rng = Rng.fromSeed(8);
  const [batch, tokens, heads, dim] = [2, 3, 2, 4];
  const qkv = randTensor(rng, [batch * tokens, 3 * dim]);
  const bias = keyBiasFromCounts([3, 2], tokens)!;
  assert.ok(gradCheck((q) => attentionCore(q as tf.Tensor2D, batch, tokens, heads, bias), [qkv], 9) < 3e-3);
  assert.ok(gradCheck((q) => attentionCore(q as tf.Tensor2D, batch, tokens, heads, null), [qkv], 10) < 3e-3);
  assert.is(keyBiasFromCounts([3, 3], 3), null);
  tf.dispose([qkv, bias]);
});

test('batched matmul: the SIMD loops equal tf.matMul (plain, transposed a, transposed b); others fall back', async () => {
  const rng = Rng.fromSeed(12);
  const cases: [number[], number[], boolean, boolean][] = [
    [[3, 5, 6], [3, 6, 8], false, false],
    [[3, 6, 5], [3, 6, 8], true, false],
    [[3, 5, 8], [3, 7, 8], false, true],
    [[3, 5, 6], [3, 6, 7], false, false], // n not a multiple of 4: tf.matMul
    [[2, 6, 5], [2, 4, 6], true, true], // both transposed: tf.matMul
  ];
  const before = tf.memory().numTensors;
  for (const [sa, sb, ta, tb] of cases) {
    const a = randTensor(rng, sa);
    const b = randTensor(rng, sb);
    const got = tf.tidy(() => batchMatMul(a, b, ta, tb).dataSync().slice());
    const want = tf.tidy(() =>
      tf
        .matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb)
        .dataSync()
        .slice(),
    );
    assert.is(got.length, want.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `${sa} x ${sb} (${ta}, ${tb}) at ${i}`));
    tf.dispose([a, b]);
  }
  assert.is(tf.memory().numTensors, before);
  // the first three ran the SIMD kernel, the last two tfjs's own
  const kernels = async (sa: number[], sb: number[], ta: boolean, tb: boolean) =>
    (await tf.profile(() => tf.tidy(() => void batchMatMul(tf.ones(sa), tf.ones(sb), ta, tb)))).kernels.map(
      (k) => k.name,
    );
  assert.ok((await kernels([3, 5, 8], [3, 7, 8], false, true)).includes('DbmimBatchMatMul'));
  assert.not.ok((await kernels([2, 6, 5], [2, 4, 6], true, true)).includes('DbmimBatchMatMul'));
  assert.is(tf.memory().numTensors, before);
});

test('2-D transpose: the tiled wasm loop equals tf.transpose; other sides fall back', async () => {
  const rng = Rng.fromSeed(15);
  const before = tf.memory().numTensors;
  for (const shape of [
    [32, 48],
    [16, 16],
    [20, 32], // not a multiple of the tile: tf.transpose
  ]) {
    const x = randTensor(rng, shape) as tf.Tensor2D;
    const got = tf.tidy(() => transpose2d(x).dataSync().slice());
    const want = tf.tidy(() => tf.transpose(x).dataSync().slice());
    assert.equal(Array.from(got), Array.from(want));
    x.dispose();
  }
  const kernels = async (shape: [number, number]) =>
    (
      await tf.profile(() => tf.tidy(() => void transpose2d(tf.ones(shape) as tf.Tensor as tf.Tensor2D)))
    ).kernels.map((k) => k.name);
  assert.ok((await kernels([32, 48])).includes('DbmimTranspose2D'));
  assert.not.ok((await kernels([20, 32])).includes('DbmimTranspose2D'));
  assert.is(tf.memory().numTensors, before);
});

test('attention core on the SIMD path (tokens and head size multiples of 4): finite differences', () => {
  const rng = Rng.fromSeed(13);
  const [batch, tokens, heads, dim] = [2, 4, 2, 8];
  const qkv = randTensor(rng, [batch * tokens, 3 * dim]);
  const bias = keyBiasFromCounts([4, 3], tokens)!;
  assert.ok(gradCheck((q) => attentionCore(q as tf.Tensor2D, batch, tokens, heads, bias), [qkv], 14) < 3e-3);
  tf.dispose([qkv, bias]);
});

test('attention: a padded token does not change any real token output (transformer block)', () => {
  const store = new ParamStore(Rng.fromSeed(11).split('init'));
  const blk = new TransformerBlock(store.scope('b'), 8, 2, 2);
  const rng = Rng.fromSeed(12);
  const a = randTensor(rng, [4, 8]); // sample 0: 4 real tokens
  const real = randTensor(rng, [2, 8]); // sample 1: 2 real tokens
  const outs = [1, 2].map((k) =>
    tf.tidy(() => {
      const pad = randTensor(Rng.fromSeed(100 + k), [2, 8], 10 * k); // different garbage each run
      const x = tf.concat([a, real, pad], 0) as tf.Tensor2D;
      const bias = keyBiasFromCounts([4, 2], 4)!;
      return blk.apply(x, 2, 4, bias).arraySync() as number[][];
    }),
  );
  const alone = tf.tidy(() => blk.apply(real as tf.Tensor2D, 1, 2, null).arraySync() as number[][]);
  for (const o of outs) {
    for (let r = 0; r < 4; r++)
      for (let c = 0; c < 8; c++) assert.ok(Math.abs(o[r]![c]! - outs[0]![r]![c]!) < 1e-6);
    for (let r = 0; r < 2; r++)
      for (let c = 0; c < 8; c++)
        assert.ok(Math.abs(o[4 + r]![c]! - alone[r]![c]!) < 1e-5, `row ${r} col ${c}`);
  }
  // and the gradient reaching the padded rows from real outputs is exactly zero
  const g = tf.tidy(() => {
    const x = tf.concat([a, real, randTensor(rng, [2, 8])], 0) as tf.Tensor2D;
    const bias = keyBiasFromCounts([4, 2], 4)!;
    const sel = tf.tensor2d([1, 1, 1, 1, 1, 1, 0, 0], [8, 1]);
    return tf
      .grad((xi: tf.Tensor) => tf.sum(tf.mul(blk.apply(xi as tf.Tensor2D, 2, 4, bias), sel)))(x)
      .arraySync() as number[][];
  });
  for (const r of [6, 7]) for (const v of g[r]!) assert.is(v, 0);
  tf.dispose([a, real]);
  store.dispose();
});

test('row selection: backward matches finite differences', () => {
  const rng = Rng.fromSeed(13);
  const sel = new RowSelection(4, 3, [
    [0, 2],
    [1, 0],
    [3, 0],
  ]);
  const x = randTensor(rng, [3, 2]);
  const y = tf.tidy(() => sel.apply(x).arraySync() as number[][]);
  const xs = x.arraySync() as number[][];
  assert.equal(y, [xs[2], xs[0], [0, 0], xs[0]]);
  assert.ok(gradCheck((x) => sel.apply(x!), [x], 14) < 2e-3);
  sel.dispose();
  x.dispose();
});

test('upsampling (transposed conv, kernel = stride): values by hand and backward', () => {
  // [1, 2, 2] also takes the path that skips the copy of an axis of length 1
  for (const stride of [
    [2, 1, 2],
    [1, 2, 2],
  ] as [number, number, number][]) {
    const [sz, sy, sx] = stride;
    const k = sz * sy * sx;
    const store = new ParamStore(Rng.fromSeed(17).split('init'));
    const up = new ConvTranspose3d(store.scope('up'), 2, 3, stride);
    const rng = Rng.fromSeed(18);
    const [B, D, H, W] = [1, 2, 2, 3];
    const u = randTensor(rng, [B, D, H, W, 2]);
    const got = tf.tidy(() => up.apply(u as tf.Tensor5D));
    assert.equal(got.shape, [1, D * sz, H * sy, W * sx, 3]);
    const y = got.dataSync();
    got.dispose();
    const xv = u.dataSync();
    const wv = up.dense.w.dataSync();
    const bv = up.dense.b!.dataSync();
    for (let z = 0; z < D; z++)
      for (let yy = 0; yy < H; yy++)
        for (let x = 0; x < W; x++)
          for (let kz = 0; kz < sz; kz++)
            for (let ky = 0; ky < sy; ky++)
              for (let kx = 0; kx < sx; kx++)
                for (let co = 0; co < 3; co++) {
                  const col = ((kz * sy + ky) * sx + kx) * 3 + co;
                  let want = bv[col]!;
                  for (let ci = 0; ci < 2; ci++)
                    want += xv[((z * H + yy) * W + x) * 2 + ci]! * wv[ci * k * 3 + col]!;
                  const oi = (((z * sz + kz) * H * sy + yy * sy + ky) * W * sx + x * sx + kx) * 3 + co;
                  assert.ok(Math.abs(y[oi]! - want) < 1e-5, `stride [${stride}] output ${oi}`);
                }
    assert.ok(gradCheck((u) => up.apply(u as tf.Tensor5D), [u], 19) < 3e-3);
    u.dispose();
    store.dispose();
  }
});

test('patch grid: patch order z slowest, x fastest; unpatchify inverts patchify', () => {
  const g = new PatchGrid([2, 4, 4], [1, 2, 2]);
  assert.equal(g.grid, [2, 2, 2]);
  const raw = Float32Array.from({ length: 2 * 32 }, (_, i) => i);
  const p = g.patchify(raw, 2);
  // patch 1 of sample 0: z 0, y 0, x 2..3 -> voxels 2, 3, 6, 7
  assert.equal([...p.subarray(4, 8)], [2, 3, 6, 7]);
  // patch 4 of sample 0: z 1 -> voxels 16, 17, 20, 21
  assert.equal([...p.subarray(16, 20)], [16, 17, 20, 21]);
  assert.equal([...g.unpatchify(p, 2)], [...raw]);
  assert.throws(() => g.patchify(raw, 3), /expected batch 3 x crop \[2,4,4\]/);
  assert.throws(() => new PatchGrid([4, 6, 6], [4, 4, 4]), /not a positive multiple/);
});

test('sin-cos position embedding: first axis block is sin/cos of z', () => {
  const pe = sincosPosEmbed3d([2, 1, 1], 12); // parts 4, 4, 4: sin(z*1), sin(z*0.01), cos(z), cos(z*0.01)
  assert.ok(Math.abs(pe[12]! - Math.sin(1)) < 1e-6);
  assert.ok(Math.abs(pe[12 + 2]! - Math.cos(1)) < 1e-6);
  assert.ok(Math.abs(pe[12 + 1]! - Math.sin(0.01)) < 1e-6);
  assert.is(pe[0], 0);
  assert.is(pe[2], 1);
});

test('warmup + cosine schedule at hand-computed steps', () => {
  const s = warmupCosine({ lr: 1, minLr: 0, warmupSteps: 4, totalSteps: 14 });
  assert.ok(Math.abs(s(0) - 0.2) < 1e-12);
  assert.ok(Math.abs(s(3) - 0.8) < 1e-12);
  assert.ok(Math.abs(s(4) - 1) < 1e-12);
  assert.ok(Math.abs(s(9) - 0.5) < 1e-12);
  assert.ok(Math.abs(s(14)) < 1e-12);
  assert.ok(Math.abs(s(30)) < 1e-12);
});

test('AdamW: one update by hand (decoupled decay only on decayed params, group lr scale)', () => {
  const store = new ParamStore(Rng.fromSeed(0));
  const w = store.add('w', [2], { kind: 'values', data: Float32Array.from([1, -2]) }, true);
  const b = store.add('b', [2], { kind: 'values', data: Float32Array.from([1, -2]) }, false);
  const opt = new AdamW(
    [
      { name: 'a', params: [store.get('w')!], lrScale: 1 },
      { name: 'b', params: [store.get('b')!], lrScale: 0.5 },
    ],
    { beta1: 0.9, beta2: 0.999, weightDecay: 0.1, clipNorm: 0 },
    () => 0.1,
  );
  const c = [3, -4];
  const grads = tf.tidy(() => ({ [w.name]: tf.tensor1d(c), [b.name]: tf.tensor1d(c) }));
  const info = opt.apply(grads);
  tf.dispose(Object.values(grads));
  // step 1: m_hat = g, v_hat = g^2, so the Adam step is sign(g) (up to eps)
  const wv = w.dataSync();
  const bv = b.dataSync();
  assert.ok(Math.abs(wv[0]! - (1 - 0.1 * (1 + 0.1 * 1))) < 1e-6);
  assert.ok(Math.abs(wv[1]! - (-2 - 0.1 * (-1 + 0.1 * -2))) < 1e-6);
  assert.ok(Math.abs(bv[0]! - (1 - 0.05)) < 1e-6);
  assert.ok(Math.abs(bv[1]! - (-2 + 0.05)) < 1e-6);
  assert.ok(Math.abs(info.gradNorm - Math.sqrt(50)) < 1e-4);
  assert.is(opt.step, 1);
  const names = opt.stateTensors().map((t) => t.name);
  assert.equal(names, ['optim/m/w', 'optim/v/w', 'optim/m/b', 'optim/v/b']);
  assert.ok(Math.abs(opt.stateTensors()[0]!.tensor.dataSync()[0]! - 0.3) < 1e-6);
  opt.dispose();
  store.dispose();
});

test('AdamW: the fused kernel equals the op-by-op update over steps (clipping, decay, lr scale); flat tensors', () => {
  const rng = Rng.fromSeed(7);
  const shapes = [[3, 5], [5], [2, 3, 4]];
  const values = shapes.map((s) => randTensor(rng, s).dataSync().slice() as Float32Array);
  const grads = Array.from({ length: 3 }, () => shapes.map((s) => randTensor(rng, s, 3)));
  const run = (fused: boolean) => {
    const store = new ParamStore(Rng.fromSeed(0));
    const vars = shapes.map((s, i) => store.add(`p${i}`, s, { kind: 'values', data: values[i]! }, i !== 1));
    const opt = new AdamW(
      [
        { name: 'a', params: [store.get('p0')!, store.get('p1')!], lrScale: 1 },
        { name: 'b', params: [store.get('p2')!], lrScale: 0.3 },
      ],
      // clipNorm below the gradients' norm: every step is clipped
      { beta1: 0.9, beta2: 0.95, weightDecay: 0.05, clipNorm: 1 },
      (step) => 0.01 * (step + 1),
      fused,
    );
    const before = tf.memory().numTensors;
    const norms = grads.map(
      (g) => opt.apply(Object.fromEntries(vars.map((v, i) => [v.name, g[i]!]))).gradNorm,
    );
    assert.is(tf.memory().numTensors, before, 'no tensor left behind by an update');
    const out = [...vars, ...opt.stateTensors().map((t) => t.tensor)].map((t) => t.dataSync().slice());
    opt.dispose();
    store.dispose();
    return { norms, out };
  };
  const ops = run(false);
  const fused = run(true);
  assert.ok(ops.norms.every((n) => n > 1));
  fused.norms.forEach((n, i) => assert.ok(Math.abs(n - ops.norms[i]!) < 1e-5 * n));
  let worst = 0;
  fused.out.forEach((a, i) => a.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - ops.out[i]![j]!)))));
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
  // the parameters moved (equal outputs are not the inputs passed through)
  assert.ok(Math.abs(fused.out[0]![0]! - values[0]![0]!) > 1e-3);
  tf.dispose(grads.flat());
});

test('MIM targets: per-patch normalization and HOG layout', () => {
  const p = Float32Array.from([1, 2, 3, 4, 5, 5, 5, 5]);
  const n = normalizePatches(p, 2, 4);
  assert.ok(Math.abs(n[0]! + n[3]!) < 1e-6);
  assert.ok(Math.abs(n[0]! + 1.3416) < 1e-3);
  assert.equal([...n.subarray(4)], [0, 0, 0, 0]);
  assert.is(hogDim([4, 16, 16]), 4 * 2 * 2 * 9);
  // a vertical edge: all gradient in x -> orientation bin 0 in every cell that sees it
  const patch = new Float32Array(1 * 8 * 8).map((_, i) => (i % 8 < 4 ? 0 : 1));
  const h = hogFeatures(patch, 1, [1, 8, 8]);
  assert.is(h.length, 9);
  assert.ok(Math.abs(h[0]! - 1) < 1e-3);
  assert.equal(upsampleStages([4, 16, 16]), [
    [1, 2, 2],
    [1, 2, 2],
    [2, 2, 2],
    [2, 2, 2],
  ]);
});

test('in-plane conv: forward equals a hand 3x3 convolution per section; backward matches finite differences', () => {
  const store = new ParamStore(Rng.fromSeed(21));
  const conv = new ConvInPlane(store.scope('c'), 2, 3, 3);
  const [B, D, H, W] = [1, 2, 4, 5];
  const u = randTensor(Rng.fromSeed(22), [B, D, H, W, 2]);
  const y = tf.tidy(() => conv.apply(u as tf.Tensor5D).dataSync());
  const xv = u.dataSync();
  const wv = conv.w.dataSync();
  const at = (z: number, yy: number, x: number, c: number) =>
    yy < 0 || yy >= H || x < 0 || x >= W ? 0 : xv[((z * H + yy) * W + x) * 2 + c]!;
  for (let z = 0; z < D; z++)
    for (let yy = 0; yy < H; yy++)
      for (let x = 0; x < W; x++)
        for (let co = 0; co < 3; co++) {
          let want = 0; // bias starts at 0; taps never reach the other section
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 3; j++)
              for (let ci = 0; ci < 2; ci++)
                want += at(z, yy + i - 1, x + j - 1, ci) * wv[((i * 3 + j) * 2 + ci) * 3 + co]!;
          assert.ok(Math.abs(y[((z * H + yy) * W + x) * 3 + co]! - want) < 1e-5);
        }
  assert.ok(gradCheck((v) => conv.apply(v as tf.Tensor5D), [u], 23) < 3e-3);
  // the weight gradient through the layer's own variables
  const loss = () => tf.sum(tf.square(conv.apply(u as tf.Tensor5D))) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, [conv.w, conv.b]);
  const gw = grads[conv.w.name]!.dataSync().slice();
  const base = conv.w.dataSync().slice();
  const eps = 1e-2;
  for (const j of [0, 7, 20, 53]) {
    const f = (v: number) => {
      const d = base.slice();
      d[j] = v;
      tf.tidy(() => conv.w.assign(tf.tensor(d, conv.w.shape)));
      return tf.tidy(() => loss().dataSync()[0]!);
    };
    const num = (f(base[j]! + eps) - f(base[j]! - eps)) / (2 * eps);
    assert.ok(Math.abs(gw[j]! - num) / Math.max(1, Math.abs(num)) < 3e-3, `dW[${j}] ${gw[j]} vs ${num}`);
  }
  tf.dispose(grads);
  u.dispose();
  store.dispose();
});

test('3-D conv (z-shifted in-plane conv2d): value and weight gradients equal tfjs conv3d; dX matches finite differences', () => {
  const store = new ParamStore(Rng.fromSeed(31));
  const conv = new Conv3d(store.scope('c'), 2, 3, 3);
  tf.tidy(() => conv.b.assign(randTensor(Rng.fromSeed(32), [3])));
  const x = randTensor(Rng.fromSeed(33), [2, 3, 4, 5, 2]) as tf.Tensor5D;
  const ref = (v: tf.Tensor5D) => tf.add(tf.conv3d(v, conv.w as tf.Tensor5D, 1, 'same'), conv.b);
  const got = tf.tidy(() => conv.apply(x).dataSync());
  const want = tf.tidy(() => ref(x).dataSync());
  assert.is(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `value ${i}`);
  const r = randTensor(Rng.fromSeed(34), [2, 3, 4, 5, 3]);
  const weightGrads = (f: (v: tf.Tensor5D) => tf.Tensor) =>
    tf.tidy(() => {
      const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(f(x), r)) as tf.Scalar, [conv.w, conv.b]);
      return [g[conv.w.name]!.dataSync(), g[conv.b.name]!.dataSync()];
    });
  const [gw, gb] = weightGrads((v) => conv.apply(v));
  const [rw, rb] = weightGrads(ref);
  for (const [a, b, what] of [
    [gw, rw, 'dW'],
    [gb, rb, 'db'],
  ] as const)
    for (let i = 0; i < b.length; i++)
      assert.ok(
        Math.abs(a[i]! - b[i]!) < 1e-4 * Math.max(1, Math.abs(b[i]!)),
        `${what}[${i}] ${a[i]} vs ${b[i]}`,
      );
  // the input gradient against finite differences: wasm's own Conv3D input gradient is wrong here
  // (tfjs 4.22: it disagrees with finite differences), so it is no reference
  assert.ok(gradCheck((v) => conv.apply(v as tf.Tensor5D), [x], 35) < 3e-3);
  x.dispose();
  r.dispose();
  store.dispose();
});

test('in-plane conv kernel: value with bias, gradients of x, w and b match finite differences; a conv on data computes no dX', () => {
  const rng = Rng.fromSeed(41);
  const x = randTensor(rng, [2, 4, 5, 2]) as tf.Tensor4D;
  const w = randTensor(rng, [3, 3, 2, 3]) as tf.Tensor4D;
  const b = randTensor(rng, [3]) as tf.Tensor1D;
  const got = tf.tidy(() => conv2dSame(x, w, b).dataSync());
  const want = tf.tidy(() => tf.add(tf.conv2d(x, w, 1, 'same'), b).dataSync());
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `value ${i}`);
  assert.ok(
    gradCheck((x, w, b) => conv2dSame(x as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D), [x, w, b], 42) <
      3e-3,
  );
  // trained weights on a data input: the backward runs the filter gradient only, not dX
  const wv = tf.variable(w);
  const bv = tf.variable(b);
  const convKernels = async (input: tf.Tensor4D, vars: tf.Variable[]) => {
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(conv2dSame(input, wv, bv))) as tf.Scalar,
        vars,
      );
      tf.dispose([value, ...Object.values(grads)]);
    });
    assert.is(tf.memory().numTensors, before, 'tensor count flat');
    // the forward and dX run as the conv kernel itself, the filter gradient (3 outputs) as a Conv2D
    return prof.kernels.filter((k) => k.name === 'Conv2D' || k.name === 'DbmimConvSame').length;
  };
  return (async () => {
    assert.is(await convKernels(x, [wv, bv]), 2);
    const xv = tf.variable(x);
    assert.is(await convKernels(xv, [xv, wv, bv]), 3); // with dX
    tf.dispose([x, w, b, wv, bv, xv]);
  })();
});

test('1x1 in-plane conv (a matmul over voxels): equals tfjs conv2d plus bias; backward matches finite differences', () => {
  const store = new ParamStore(Rng.fromSeed(43));
  const conv = new ConvInPlane(store.scope('c'), 3, 2, 1);
  tf.tidy(() => conv.b.assign(randTensor(Rng.fromSeed(44), [2])));
  const u = randTensor(Rng.fromSeed(45), [1, 2, 3, 4, 3]) as tf.Tensor5D;
  const got = tf.tidy(() => conv.apply(u).dataSync());
  const want = tf.tidy(() =>
    tf
      .add(tf.conv2d(tf.reshape(u, [2, 3, 4, 3]) as tf.Tensor4D, conv.w as tf.Tensor4D, 1, 'same'), conv.b)
      .dataSync(),
  );
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `value ${i}`);
  assert.ok(gradCheck((v) => conv.apply(v as tf.Tensor5D), [u], 46) < 3e-3);
  const r = randTensor(Rng.fromSeed(47), [1, 2, 3, 4, 2]);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(conv.apply(u), r)) as tf.Scalar, [conv.w, conv.b]);
  // dW[ci, co] = sum over voxels of x[ci] r[co]; db = sum of r
  const xv = u.dataSync();
  const rv = r.dataSync();
  const gw = grads[conv.w.name]!.dataSync();
  const gb = grads[conv.b.name]!.dataSync();
  for (let ci = 0; ci < 3; ci++)
    for (let co = 0; co < 2; co++) {
      let want = 0;
      for (let p = 0; p < 24; p++) want += xv[p * 3 + ci]! * rv[p * 2 + co]!;
      assert.ok(Math.abs(gw[ci * 2 + co]! - want) < 1e-4, `dW[${ci},${co}]`);
    }
  for (let co = 0; co < 2; co++) {
    let want = 0;
    for (let p = 0; p < 24; p++) want += rv[p * 2 + co]!;
    assert.ok(Math.abs(gb[co]! - want) < 1e-4, `db[${co}]`);
  }
  tf.dispose([u, r, ...Object.values(grads)]);
  store.dispose();
});

test('2x2 average pool: value and gradient equal tfjs avgPool and its own gradient; finite differences', () => {
  const x = randTensor(Rng.fromSeed(48), [2, 4, 6, 3]) as tf.Tensor4D;
  const r = randTensor(Rng.fromSeed(49), [2, 2, 3, 3]);
  const [got, want] = [avgPool2, (v: tf.Tensor4D) => tf.avgPool(v, 2, 2, 'valid')].map((f) =>
    tf.tidy(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D), r)))(x);
      return [f(x).dataSync(), g.dataSync()];
    }),
  );
  for (const k of [0, 1])
    for (let i = 0; i < want![k]!.length; i++)
      assert.ok(Math.abs(got![k]![i]! - want![k]![i]!) < 1e-6, `${k ? 'gradient' : 'value'} ${i}`);
  assert.ok(gradCheck((v) => avgPool2(v as tf.Tensor4D), [x], 50) < 2e-3);
  tf.dispose([x, r]);
});

test('sumRows: the grouped path of tall narrow matrices and the plain one equal column sums', () => {
  for (const [n, d] of [
    [8192, 3],
    [8192, 8],
    [100, 5],
    [64, 32],
  ] as [number, number][]) {
    const x = randTensor(Rng.fromSeed(n + d), [n, d]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const s = sumRows(x);
    assert.is(tf.memory().numTensors, before + 1);
    const got = s.dataSync();
    const xv = x.dataSync();
    for (let c = 0; c < d; c++) {
      let want = 0;
      for (let i = 0; i < n; i++) want += xv[i * d + c]!;
      assert.ok(Math.abs(got[c]! - want) < 1e-3 * Math.max(1, Math.abs(want)), `[${n}, ${d}] column ${c}`);
    }
    tf.dispose([x, s]);
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { conv2dSame } from '../src/models/conv-inplane.js';
import { dense } from '../src/models/dense.js';
import { Conv3d } from '../src/models/conv3d.js';
import { ParamStore } from '../src/models/params.js';
import { sumRows } from '../src/models/reduce.js';
import { relu } from '../src/models/relu.js';
import { swapMiddle } from '../src/models/swap-middle.js';
import { affinityLoss } from '../src/models/affinity-loss.js';
import { avgPool2 } from '../src/models/avg-pool2.js';
import { convWeightGrad, denseWeightGrad } from '../src/models/weight-grad.js';

/*
 * Fast paths of the affinity net's finetuning step against plain references: the SIMD loops for weight
 * gradients and convolutions (weight-grad.ts, conv-inplane.ts; generated per shape in wasm-simd.ts),
 * column sums (reduce.ts), relu's backward (relu.ts) and the pixel shuffle (swap-middle.ts) against sums
 * written out here and tfjs's own ops; the BCE loss's closed-form gradient against autodiff. Tensor
 * counts stay flat.
 */

test.before(async () => {
  await selectBackend('wasm');
});

function rand(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

/** dW[ky, kx, ci, co] = sum over pixels of x (zero outside) times dy, in float64. */
function handGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number): Float64Array {
  const [n, h, w, cin] = x.shape;
  const cout = dy.shape[3];
  const r = (k - 1) / 2;
  const xv = x.dataSync();
  const dv = dy.dataSync();
  const out = new Float64Array(k * k * cin * cout);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const sy = y + ky - r;
            const sx = xx + kx - r;
            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
            for (let ci = 0; ci < cin; ci++)
              for (let co = 0; co < cout; co++)
                out[((ky * k + kx) * cin + ci) * cout + co]! +=
                  xv[((b * h + sy) * w + sx) * cin + ci]! * dv[((b * h + y) * w + xx) * cout + co]!;
          }
  return out;
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    assert.ok(
      Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)),
      `${what}[${i}]: ${got[i]} vs ${want[i]}`,
    );
}

test('conv weight gradient: equals the hand sum (k 1, 3, 5; 1 to 12 input channels; non-square; batches; tiny images)', () => {
  const rng = Rng.fromSeed(1);
  const before = tf.memory().numTensors;
  for (const [n, h, w, cin, cout, k] of [
    [2, 5, 7, 1, 8, 3],
    [3, 6, 4, 3, 8, 3],
    [1, 9, 8, 8, 16, 3],
    [2, 4, 6, 12, 4, 3],
    [1, 7, 9, 2, 12, 5],
    [2, 3, 5, 5, 8, 1],
    [2, 1, 3, 2, 4, 3], // one row, one interior pixel
    [1, 2, 5, 3, 4, 5], // rows fewer than the kernel
  ]) {
    const x = rand(rng, [n!, h!, w!, cin!]) as tf.Tensor4D;
    const dy = rand(rng, [n!, h!, w!, cout!]) as tf.Tensor4D;
    const g = convWeightGrad(x, dy, k!);
    assert.ok(g, `loop available for ${cin}->${cout}`);
    assert.equal(g!.shape, [k, k, cin, cout]);
    close(g!.dataSync(), handGrad(x, dy, k!), `[${n},${h},${w},${cin}]->${cout} k${k}`);
    tf.dispose([x, dy, g!]);
  }
  assert.is(tf.memory().numTensors, before, 'tensor count flat');
});

test('conv weight gradient: output channels not a multiple of 4, or images narrower than the kernel, take no loop (null)', () => {
  const x = tf.ones([1, 3, 3, 2]) as tf.Tensor4D;
  const dy = tf.ones([1, 3, 3, 3]) as tf.Tensor4D;
  assert.is(convWeightGrad(x, dy, 3), null);
  const narrow = tf.ones([1, 3, 2, 2]) as tf.Tensor4D;
  const dyNarrow = tf.ones([1, 3, 2, 4]) as tf.Tensor4D;
  assert.is(convWeightGrad(narrow, dyNarrow, 3), null);
  tf.dispose([x, dy, narrow, dyNarrow]);
});

test('in-plane conv kernel: its filter and bias gradients (now the loop) equal the hand sums; a conv on data runs no Conv2D at all', async () => {
  const rng = Rng.fromSeed(2);
  const x = rand(rng, [3, 10, 12, 3]) as tf.Tensor4D;
  const w = rand(rng, [3, 3, 3, 8]) as tf.Tensor4D;
  const b = rand(rng, [8]) as tf.Tensor1D;
  const r = rand(rng, [3, 10, 12, 8]) as tf.Tensor4D;
  // d sum(conv(x) * r) / dW is the correlation of x with r; / db the sums of r
  const ours = tf.tidy(() =>
    tf
      .grads((w2: tf.Tensor, b2: tf.Tensor) =>
        tf.sum(tf.mul(conv2dSame(x, w2 as tf.Tensor4D, b2 as tf.Tensor1D), r)),
      )([w, b])
      .map((t) => t.dataSync()),
  );
  close(ours[0]!, handGrad(x, r, 3), 'dW');
  close(
    ours[1]!,
    tf.tidy(() => tf.sum(r, [0, 1, 2]).dataSync()),
    'db',
  );
  const wv = tf.variable(w);
  const bv = tf.variable(b);
  const before = tf.memory().numTensors;
  const prof = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(conv2dSame(x, wv, bv))) as tf.Scalar,
      [wv, bv],
    );
    tf.dispose([value, ...Object.values(grads)]);
  });
  assert.is(tf.memory().numTensors, before, 'tensor count flat');
  const names = prof.kernels.map((k) => k.name);
  assert.ok(names.includes('DbmimWeightGrad'));
  assert.not.ok(names.includes('Conv2D'));
  tf.dispose([x, w, b, r, wv, bv]);
});

test('dense weight gradient: xᵀ·dy for output widths that are multiples of 4, by swapping when only the input width is, null otherwise', () => {
  const rng = Rng.fromSeed(3);
  const before = tf.memory().numTensors;
  for (const [rows, cin, cout] of [
    [300, 8, 12], // rows not a multiple of a large chunk
    [97, 5, 4], // prime rows: chunks of one row
    [256, 8, 3], // out 3: (dyᵀ·x)ᵀ
  ]) {
    const x = rand(rng, [rows!, cin!]) as tf.Tensor2D;
    const dy = rand(rng, [rows!, cout!]) as tf.Tensor2D;
    const g = denseWeightGrad(x, dy)!;
    assert.equal(g.shape, [cin, cout]);
    const want = tf.tidy(() => tf.matMul(x, dy, true, false).dataSync());
    close(g.dataSync(), want, `[${rows},${cin}]x${cout}`);
    tf.dispose([x, dy, g]);
  }
  const x = tf.ones([10, 3]) as tf.Tensor2D;
  const dy = tf.ones([10, 5]) as tf.Tensor2D;
  assert.is(denseWeightGrad(x, dy), null);
  tf.dispose([x, dy]);
  assert.is(tf.memory().numTensors, before, 'tensor count flat');
});

test('dense layer with many rows: weight gradient through the loop equals tfjs matMul gradient', () => {
  const rng = Rng.fromSeed(4);
  const x = rand(rng, [4096, 8]) as tf.Tensor2D;
  const w = rand(rng, [8, 12]);
  const b = rand(rng, [12]);
  const r = rand(rng, [4096, 12]);
  const [ours, ref] = [
    (w2: tf.Tensor, b2: tf.Tensor) => dense(x, w2, b2),
    (w2: tf.Tensor, b2: tf.Tensor) => tf.add(tf.matMul(x, w2 as tf.Tensor2D), b2),
  ].map((f) =>
    tf.tidy(() =>
      tf
        .grads((w2: tf.Tensor, b2: tf.Tensor) => tf.sum(tf.mul(f(w2, b2), r)))([w, b])
        .map((t) => t.dataSync()),
    ),
  );
  close(ours![0]!, ref![0]!, 'dW', 1e-4);
  close(ours![1]!, ref![1]!, 'db', 1e-4);
  tf.dispose([x, w, b, r]);
});

test('sumRows of tall matrices with a multiple of 4 columns: the SIMD column sums equal float64 sums', async () => {
  const rng = Rng.fromSeed(5);
  for (const [n, d] of [
    [4096, 8], // folded: 8 rows at a time
    [5000, 12],
    [4100, 4],
    [4097, 64], // one row at a time
  ] as [number, number][]) {
    const x = rand(rng, [n, d]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const prof = await tf.profile(() => void sumRows(x).dispose());
    assert.ok(
      prof.kernels.some((k) => k.name === 'DbmimSumRows'),
      `[${n}, ${d}] on the loop`,
    );
    const s = sumRows(x);
    assert.is(tf.memory().numTensors, before + 1);
    const xv = x.dataSync();
    const want = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) want[c]! += xv[i * d + c]!;
    close(s.dataSync(), want, `[${n}, ${d}]`, 1e-3); // float32 sums of ~4k terms
    tf.dispose([x, s]);
  }
});

test('relu: value and gradient equal tf.relu (zero at x = 0 and below), one backward kernel, flat tensors', async () => {
  const rng = Rng.fromSeed(6);
  const xv = Float32Array.from({ length: 64 }, (_, i) => (i % 5 === 0 ? 0 : rng.normal()));
  const x = tf.tensor(xv, [4, 16]);
  const r = rand(rng, [4, 16]);
  const [ours, ref] = [relu, tf.relu].map((f) =>
    tf.tidy(() => {
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), r)))(x);
      return [f(x).dataSync(), g.dataSync()];
    }),
  );
  assert.equal(Array.from(ours![0]!), Array.from(ref![0]!), 'value');
  assert.equal(Array.from(ours![1]!), Array.from(ref![1]!), 'gradient');
  const before = tf.memory().numTensors;
  const prof = await tf.profile(() => tf.tidy(() => void tf.grad((v: tf.Tensor) => tf.sum(relu(v)))(x)));
  const names = prof.kernels.map((k) => k.name);
  assert.ok(names.includes('DbmimReluGrad'));
  assert.not.ok(names.includes('Step'));
  assert.is(tf.memory().numTensors, before);
  // a size that is not a multiple of 4 takes tf.relu
  const odd = tf.tensor([-1, 2, 3]);
  assert.equal(Array.from(relu(odd).dataSync()), [0, 2, 3]);
  tf.dispose([x, r, odd]);
});

test('BCE loss: value and closed-form gradient equal autodiff of the op-by-op formula (weighted, unweighted, soft targets)', () => {
  const rng = Rng.fromSeed(7);
  const z = rand(rng, [2, 3, 5]);
  const t = tf.tensor(
    Float32Array.from({ length: 30 }, (_, i) => (i % 7 === 0 ? 0.3 : i % 2)),
    [2, 3, 5],
  );
  const w = tf.tensor(
    Float32Array.from({ length: 30 }, (_, i) => 1 + (i % 3)),
    [2, 3, 5],
  );
  const reference = (v: tf.Tensor, wt: tf.Tensor | null) => {
    const per = tf.add(tf.sub(tf.relu(v), tf.mul(v, t)), tf.log1p(tf.exp(tf.neg(tf.abs(v)))));
    return wt ? tf.div(tf.sum(tf.mul(per, wt)), tf.sum(wt)) : tf.mean(per);
  };
  const before = tf.memory().numTensors;
  for (const wt of [w, null]) {
    const [ours, ref] = [
      (v: tf.Tensor) => affinityLoss(v, t, wt, 'bce'),
      (v: tf.Tensor) => reference(v, wt),
    ].map((f) =>
      tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.mul(f(v), 2.5) as tf.Scalar)(z);
        return [value.dataSync()[0]!, grad.dataSync()] as const;
      }),
    );
    assert.ok(Math.abs(ours![0] - ref![0]) < 1e-6, `value ${ours![0]} vs ${ref![0]}`);
    close(ours![1], ref![1], `gradient (weights: ${wt !== null})`, 1e-6);
  }
  assert.is(tf.memory().numTensors, before);
  tf.dispose([z, t, w]);
});

test('fused BCE on channels-last logits: value and gradient equal float64 sums of the formula (extremes, soft targets, several chunks, batch 2); other cases take the transpose path; flat tensors', async () => {
  const rng = Rng.fromSeed(11);
  const [b, c, d, h, w] = [2, 3, 2, 24, 24]; // 1,152 voxels a sample: more than one chunk of the loop
  const v = d * h * w;
  const zv = Float32Array.from({ length: b * v * c }, () => 6 * rng.normal());
  zv.set([0, -95, 95, 1e-8, -1e-8, 40, -40, 87, -87.5, 0.5], 0); // extremes: exp underflow, sign at 0
  const tv = Float32Array.from({ length: zv.length }, (_, i) =>
    i % 7 === 0 ? 0.3 : rng.next() < 0.2 ? 0 : 1,
  );
  const wv = Float32Array.from(tv, (t, i) => (t === 0 ? 3 : 1 + (i % 2)));
  const z = tf.tensor(zv, [b, d, h, w, c]);
  const t = tf.tensor(tv, [b, c, d, h, w]);
  const wt = tf.tensor(wv, [b, c, d, h, w]);
  // float64 reference: loss and d(2.5 loss)/dz, z channels-last, t and w channels-first
  let sum = 0;
  let sumW = 0;
  for (const x of wv) sumW += x;
  const want = new Float64Array(zv.length);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < v; i++)
      for (let ch = 0; ch < c; ch++) {
        const zz = zv[(n * v + i) * c + ch]!;
        const tt = tv[(n * c + ch) * v + i]!;
        const ww = wv[(n * c + ch) * v + i]!;
        sum += ww * (Math.max(zz, 0) - zz * tt + Math.log1p(Math.exp(-Math.abs(zz))));
        want[(n * v + i) * c + ch] = (2.5 * ww * (1 / (1 + Math.exp(-zz)) - tt)) / sumW;
      }
  const before = tf.memory().numTensors;
  const [value, grad] = tf.tidy(() => {
    const r = tf.valueAndGrad(
      (x: tf.Tensor) => tf.mul(affinityLoss(x, t, wt, 'bce', 'channelsLast'), 2.5) as tf.Scalar,
    )(z);
    return [r.value.dataSync()[0]!, r.grad.dataSync()] as const;
  });
  assert.ok(Math.abs(value - (2.5 * sum) / sumW) < 1e-6 * value, `value ${value} vs ${(2.5 * sum) / sumW}`);
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(grad[i]! - want[i]!) <= 1e-6 * scale, `gradient[${i}]: ${grad[i]} vs ${want[i]}`);
  // the loss itself differentiated (upstream gradient 1, as in training): the saved gradient as it is
  const plain = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => affinityLoss(x, t, wt, 'bce', 'channelsLast'))(z)
      .dataSync(),
  );
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(2.5 * plain[i]! - want[i]!) <= 1e-6 * scale, `plain gradient[${i}]`);
  // one kernel of our own, no exp / log1p / sigmoid / transpose
  const prof = await tf.profile(() =>
    tf.tidy(() => void tf.grad((x: tf.Tensor) => affinityLoss(x, t, wt, 'bce', 'channelsLast'))(z)),
  );
  const names = prof.kernels.map((k) => k.name);
  assert.ok(names.includes('DbmimFusedBce'), names.join(' '));
  for (const k of ['Exp', 'Log1p', 'Sigmoid', 'Transpose']) assert.not.ok(names.includes(k), k);
  // without weights, with MSE, or on channels-first logits: the transpose path, equal to the plain one
  const zf = tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(z, [b, v, c]), [0, 2, 1]), t.shape));
  for (const [kind, weight] of [
    ['bce', null],
    ['mse', wt],
  ] as const) {
    const got = tf.tidy(() => affinityLoss(z, t, weight, kind, 'channelsLast').dataSync()[0]!);
    const ref = tf.tidy(() => affinityLoss(zf, t, weight, kind).dataSync()[0]!);
    assert.ok(Math.abs(got - ref) < 1e-6 * ref, `${kind}: ${got} vs ${ref}`);
  }
  assert.throws(
    () => tf.tidy(() => affinityLoss(tf.zeros([b, d, h, w, 2]), t, wt, 'mse', 'channelsLast')),
    /channels-last logits \[2,2,24,24,2\] do not match targets/,
  );
  zf.dispose();
  assert.is(tf.memory().numTensors, before);
  tf.dispose([z, t, wt]);
});

test('in-plane conv with a fused relu: value and gradients (x, filter, bias) equal relu after the conv; no relu kernel, no Reverse; flat tensors', async () => {
  const rng = Rng.fromSeed(12);
  const before = tf.memory().numTensors;
  for (const [n, h, w, cin, cout, k] of [
    [2, 6, 11, 3, 8, 3],
    [1, 5, 7, 8, 4, 3],
    [1, 4, 9, 16, 12, 5],
    [1, 3, 2, 2, 8, 3], // narrower than the kernel: the backend's fused conv with its relu
  ]) {
    const x = rand(rng, [n!, h!, w!, cin!]) as tf.Tensor4D;
    const wt = rand(rng, [k!, k!, cin!, cout!]) as tf.Tensor4D;
    const b = rand(rng, [cout!]) as tf.Tensor1D;
    const r = rand(rng, [n!, h!, w!, cout!]);
    const [fused, ref] = [
      (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
        conv2dSame(xi as tf.Tensor4D, wi as tf.Tensor4D, bi as tf.Tensor1D, true),
      (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
        relu(conv2dSame(xi as tf.Tensor4D, wi as tf.Tensor4D, bi as tf.Tensor1D)),
    ].map((f) =>
      tf.tidy(() => {
        const gs = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
          tf.sum(tf.mul(f(xi, wi, bi), r)),
        )([x, wt, b]);
        return [f(x, wt, b).dataSync(), ...gs.map((g) => g.dataSync())];
      }),
    );
    const what = `[${[n, h, w, cin, cout, k]}]`;
    assert.equal(Array.from(fused![0]!), Array.from(ref![0]!), `${what} value`);
    assert.ok(fused![0]!.some((v) => v === 0) && fused![0]!.some((v) => v > 0), `${what}: both signs`);
    ['dX', 'dW', 'db'].forEach((g, i) => close(fused![i + 1]!, ref![i + 1]!, `${what} ${g}`, 1e-5));
    tf.dispose([x, wt, b, r]);
  }
  const x = rand(rng, [1, 6, 8, 4]) as tf.Tensor4D;
  const wt = rand(rng, [3, 3, 4, 8]) as tf.Tensor4D;
  const b = rand(rng, [8]) as tf.Tensor1D;
  const prof = await tf.profile(() =>
    tf.tidy(() => void tf.grads((xi: tf.Tensor) => tf.sum(conv2dSame(xi as tf.Tensor4D, wt, b, true)))([x])),
  );
  const names = prof.kernels.map((kk) => kk.name);
  assert.ok(names.includes('DbmimConvSameRelu'), names.join(' '));
  for (const kk of ['DbmimRelu', 'Relu', 'Reverse']) assert.not.ok(names.includes(kk), kk);
  tf.dispose([x, wt, b]);
  assert.is(tf.memory().numTensors, before);
});

test('2x2 average pool on the SIMD loop: value and gradient equal tf.avgPool (c 4, 8, 12; rectangles; batches); other channel counts take tfjs; flat tensors', async () => {
  const rng = Rng.fromSeed(13);
  const before = tf.memory().numTensors;
  for (const [n, h, w, c] of [
    [2, 4, 6, 4],
    [1, 8, 2, 8],
    [3, 2, 10, 12],
    [1, 4, 4, 3], // not a multiple of 4: tfjs's ops
  ]) {
    const x = rand(rng, [n!, h!, w!, c!]) as tf.Tensor4D;
    const r = rand(rng, [n!, h! / 2, w! / 2, c!]);
    const [ours, ref] = [avgPool2, (v: tf.Tensor4D) => tf.avgPool(v, 2, 2, 'valid')].map((f) =>
      tf.tidy(() => {
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D), r)))(x);
        return [f(x).dataSync(), g.dataSync()];
      }),
    );
    close(ours![0]!, ref![0]!, `[${[n, h, w, c]}] value`, 1e-6);
    close(ours![1]!, ref![1]!, `[${[n, h, w, c]}] gradient`, 1e-6);
    tf.dispose([x, r]);
  }
  const x = rand(rng, [1, 4, 4, 8]) as tf.Tensor4D;
  const prof = await tf.profile(() =>
    tf.tidy(() => void tf.grad((v: tf.Tensor) => tf.sum(avgPool2(v as tf.Tensor4D)))(x)),
  );
  const names = prof.kernels.map((k) => k.name);
  assert.ok(names.includes('DbmimAvgPool2') && names.includes('DbmimAvgPool2Grad'), names.join(' '));
  for (const k of ['AvgPool', 'ResizeNearestNeighbor']) assert.not.ok(names.includes(k), k);
  x.dispose();
  assert.is(tf.memory().numTensors, before);
});

test('in-plane conv on the SIMD loop: value equals tfjs conv2d (with and without bias; k 1, 3, 5; edges, leftover pixels, tiny images); dX matches tfjs', () => {
  const rng = Rng.fromSeed(8);
  const before = tf.memory().numTensors;
  for (const [n, h, w, cin, cout, k] of [
    [2, 6, 11, 1, 8, 3], // 11 - 2 = 9 interior pixels: two blocks of 4 and one left over
    [1, 5, 7, 3, 4, 3],
    [2, 4, 9, 8, 16, 3],
    [1, 7, 6, 5, 12, 5],
    [1, 2, 3, 2, 8, 3], // as wide as the kernel, fewer rows
    [2, 3, 5, 6, 4, 1],
  ]) {
    const x = rand(rng, [n!, h!, w!, cin!]) as tf.Tensor4D;
    const wt = rand(rng, [k!, k!, cin!, cout!]) as tf.Tensor4D;
    const b = rand(rng, [cout!]) as tf.Tensor1D;
    const what = `[${n},${h},${w},${cin}]->${cout} k${k}`;
    const got = tf.tidy(() => conv2dSame(x, wt, b).dataSync());
    close(
      got,
      tf.tidy(() => tf.add(tf.conv2d(x, wt, 1, 'same'), b).dataSync()),
      what,
      1e-5,
    );
    // dX runs the loop without bias: d sum(conv(x) * r) / dx = conv(r, W rotated, in/out swapped)
    const r = rand(rng, [n!, h!, w!, cout!]);
    const dx = tf.tidy(() =>
      tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(conv2dSame(v as tf.Tensor4D, wt, b), r)))(x)
        .dataSync(),
    );
    const rot = tf.tidy(() => tf.transpose(tf.reverse(wt, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
    close(
      dx,
      tf.tidy(() => tf.conv2d(r as tf.Tensor4D, rot, 1, 'same').dataSync()),
      `${what} dX`,
      1e-5,
    );
    tf.dispose([x, wt, b, r, rot]);
  }
  assert.is(tf.memory().numTensors, before, 'tensor count flat');
});

test('in-plane conv: forward and dX run as the in-plane conv kernel, no tfjs Conv2D', async () => {
  const x = tf.ones([1, 4, 6, 4]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 4, 4]) as tf.Tensor4D;
  const b = tf.zeros([4]) as tf.Tensor1D;
  const prof = await tf.profile(() =>
    tf.tidy(() => void tf.grad((v: tf.Tensor) => tf.sum(conv2dSame(v as tf.Tensor4D, w, b)))(x)),
  );
  const names = prof.kernels.map((k) => k.name);
  assert.is(names.filter((n) => n === 'DbmimConvSame').length, 2, 'forward and dX');
  assert.not.ok(names.includes('Conv2D'));
  assert.not.ok(names.includes('FusedConv2D'));
  tf.dispose([x, w, b]);
});

test('swapMiddle: value and gradient equal tf.transpose [0, 2, 1, 3] (SIMD blocks, and the fallback)', async () => {
  const rng = Rng.fromSeed(9);
  const before = tf.memory().numTensors;
  for (const shape of [
    [2, 3, 5, 8],
    [1, 4, 2, 4],
    [3, 2, 3, 6], // d not a multiple of 4: tf.transpose
  ]) {
    const x = rand(rng, shape) as tf.Tensor4D;
    const r = rand(rng, [shape[0]!, shape[2]!, shape[1]!, shape[3]!]);
    const [ours, ref] = [swapMiddle, (v: tf.Tensor4D) => tf.transpose(v, [0, 2, 1, 3])].map((f) =>
      tf.tidy(() => [
        f(x).dataSync(),
        tf
          .grad((v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D), r)))(x)
          .dataSync(),
      ]),
    );
    assert.equal(Array.from(ours![0]!), Array.from(ref![0]!), `${shape} value`);
    assert.equal(Array.from(ours![1]!), Array.from(ref![1]!), `${shape} gradient`);
    tf.dispose([x, r]);
  }
  const x = tf.ones([2, 3, 5, 8]) as tf.Tensor4D;
  const prof = await tf.profile(() => void swapMiddle(x).dispose());
  assert.ok(prof.kernels.some((k) => k.name === 'DbmimSwapMiddle'));
  x.dispose();
  assert.is(tf.memory().numTensors, before);
});

test('dense on the SIMD loop (1x1 conv): value with and without bias, and dX, equal tfjs matMul', () => {
  const rng = Rng.fromSeed(10);
  const before = tf.memory().numTensors;
  for (const [rows, cin, cout] of [
    [37, 5, 8], // rows not a multiple of the 4-pixel block
    [300, 12, 4],
    [64, 8, 3], // out 3: the backend's matmul
  ]) {
    const x = rand(rng, [rows!, cin!]) as tf.Tensor2D;
    const w = rand(rng, [cin!, cout!]) as tf.Tensor2D;
    const b = rand(rng, [cout!]);
    const r = rand(rng, [rows!, cout!]);
    const what = `[${rows},${cin}]x${cout}`;
    close(
      tf.tidy(() => dense(x, w, b).dataSync()),
      tf.tidy(() => tf.add(tf.matMul(x, w), b).dataSync()),
      what,
      1e-5,
    );
    close(
      tf.tidy(() => dense(x, w).dataSync()),
      tf.tidy(() => tf.matMul(x, w).dataSync()),
      `${what} no bias`,
      1e-5,
    );
    const dx = tf.tidy(() =>
      tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(dense(v as tf.Tensor2D, w, b), r)))(x)
        .dataSync(),
    );
    close(
      dx,
      tf.tidy(() => tf.matMul(r as tf.Tensor2D, w, false, true).dataSync()),
      `${what} dX`,
      1e-5,
    );
    tf.dispose([x, w, b, r]);
  }
  assert.is(tf.memory().numTensors, before);
});

test('3-D conv z-stack kernel: layers of different channels and kernels in one process equal tfjs conv3d', () => {
  const store = new ParamStore(Rng.fromSeed(11));
  const before = tf.memory().numTensors;
  // the kernel is registered once: sizes must come from each call, not from the first
  for (const [c, k] of [
    [1, 3],
    [2, 3],
    [3, 1],
    [2, 5],
  ]) {
    const conv = new Conv3d(store.scope(`c${c}k${k}`), c!, 4, k!);
    const x = rand(Rng.fromSeed(c! * 10 + k!), [2, 5, 4, 6, c!]) as tf.Tensor5D;
    const got = tf.tidy(() => conv.apply(x).dataSync());
    const want = tf.tidy(() => tf.add(tf.conv3d(x, conv.w as tf.Tensor5D, 1, 'same'), conv.b).dataSync());
    close(got, want, `c ${c} k ${k}`, 1e-5);
    x.dispose();
  }
  store.dispose();
  assert.is(tf.memory().numTensors, before);
});

test.run();

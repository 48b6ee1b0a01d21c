/*
 * Where the MIM train step spends its time: `node --import tsx bench/profile-mim.ts [--preset small]
 * [--steps 3] [--top 40]`. Runs warm-up steps, then profiles `steps` train steps with tf.profile and prints the
 * kernel time per kernel name and per (kernel, input shapes), largest first, plus the share of the step's
 * wall time that kernels account for (the rest is JS: tape bookkeeping, tensor allocation, data prep).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { MimModel } from '../src/models/mim-model.js';
import { makeMimBatch } from './mim.js';
import { addRow as add, argOf as arg, printRows as print, type ProfileRow as Row } from './profile-table.js';

await selectBackend();
const preset = (arg('--preset') ?? 'small') as 'tiny' | 'small';
const steps = Number(arg('--steps') ?? 3);
const batch = 8;
const cfg = resolveConfig({ model: { preset } });
const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
const data = makeMimBatch(Rng.fromSeed(1), batch, cfg.model.crop, model.numPatches, 0.75);
for (let i = 0; i < 3; i++) model.trainStep(data.raw, batch, data.mask);
const t0 = performance.now();
for (let i = 0; i < steps; i++) model.trainStep(data.raw, batch, data.mask);
const wallUnprofiled = (performance.now() - t0) / steps;
const info = await tf.profile(() => {
  for (let i = 0; i < steps; i++) model.trainStep(data.raw, batch, data.mask);
});
const byName = new Map<string, Row>();
const byShape = new Map<string, Row>();
let total = 0;
const byKind = new Map<string, Row>();
/** Matmul kernels: tfjs's own and the dense layer's (src/models/dense.ts), whose inputs are `[x, w, b]`. */
const isMatmul = (name: string) => name === 'BatchMatMul' || name === '_FusedMatMul' || name === 'DbmimDense';
/** Coarse kinds for the summary: 2-D matmuls, per-head (batched) matmuls, transposes, the rest. */
function kindOf(name: string, shapes: number[][]): string {
  if (name === 'DbmimAdamW') return 'optimizer (fused AdamW)';
  if (isMatmul(name)) {
    const a = shapes[0]!;
    return a.length === 3 && a[0] !== 1 ? 'batched (per-head) matmul' : '2-D matmul';
  }
  if (name === 'Transpose') return 'transpose';
  if (name === 'Identity' || name === 'Reshape' || name === 'SplitV' || name === 'Concat' || name === 'Cast')
    return 'copies (identity, split, concat)';
  return 'elementwise and reductions';
}
const gf = new Map<string, number>();
let matmulMs = 0;
let matmulFlops = 0;
for (const k of info.kernels) {
  // customGrad forwards ('forward') and composite ops ('...__op') contain other kernels: count leaves only
  if (k.name === 'forward' || k.name.endsWith('__op')) continue;
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  total += ms;
  add(byName, k.name, ms);
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  if (isMatmul(k.name)) {
    const out = k.outputShapes[0]!;
    const a = k.inputShapes[0]!;
    const n = out.reduce((x, y) => x * y, 1);
    // inner dimension: the dimension of a that is not in the output rows (a is [.., m, k] or [.., k, m])
    const kDim = a[a.length - 1] === out[out.length - 2] ? a[a.length - 2]! : a[a.length - 1]!;
    const flops = 2 * n * kDim;
    matmulMs += ms;
    matmulFlops += flops;
    gf.set(key, (gf.get(key) ?? 0) + flops);
  }
  add(byShape, key, ms);
  add(byKind, kindOf(k.name, k.inputShapes), ms);
}
// the same 2-D shapes as plain matmuls with fixed operands, right after, for an in-run comparison
const plainMs = new Map<string, number>();
for (const key of gf.keys()) {
  const m = /^(BatchMatMul|_FusedMatMul|DbmimDense) (\[.*\])$/.exec(key);
  if (!m) continue;
  const shapes = JSON.parse(m[2]!) as number[][];
  const a = shapes[0]!;
  const b = shapes[1]!;
  if (a.length === 3 && a[0] !== 1) continue; // batched: no plain equivalent
  const [rows, inner] = a.slice(-2) as [number, number];
  const cols = b[b.length - 1]!;
  const x = tf.randomNormal([rows, inner]);
  const w = tf.randomNormal([inner, cols]);
  tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D).dispose();
  const reps = 20;
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D).dispose();
  plainMs.set(key, (performance.now() - t) / reps);
  tf.dispose([x, w]);
}
for (const [key, flops] of gf) {
  const r = byShape.get(key)!;
  byShape.delete(key);
  const p = plainMs.get(key);
  const plain = p === undefined ? '' : `, plain ${(flops / r.calls / p / 1e6).toFixed(1)}`;
  byShape.set(`${key}  -> ${(flops / r.ms / 1e6).toFixed(1)} GFLOP/s${plain}`, r);
}
console.log(
  `matmul kernels: ${(matmulMs / steps).toFixed(1)} ms/step, ${(matmulFlops / steps / 1e9).toFixed(2)} GFLOP/step, ${(matmulFlops / matmulMs / 1e6).toFixed(1)} GFLOP/s`,
);
console.log(
  `preset ${preset}, batch ${batch}: step ${wallUnprofiled.toFixed(1)} ms unprofiled; kernels ${(total / steps).toFixed(1)} ms/step in ${info.kernels.length / steps} kernel calls/step`,
);
print('by kind', byKind, steps, 10);
print('by kernel', byName, steps, 25);
print('by kernel and input shapes', byShape, steps, Number(arg('--top') ?? 40));
model.dispose();

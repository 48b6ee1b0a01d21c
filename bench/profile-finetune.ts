/*
 * Where the finetuning step spends its time: `node --import tsx bench/profile-finetune.ts [--steps 3]
 * [--top 40]`. The step of bench/finetune.ts (quick preset: `tiny`, batch 2, crop 4x128x128, BCE with
 * boundary weights); warm-up steps, then `steps` steps under tf.profile. Prints the kernel time per
 * kernel name and per (kernel, input shapes), largest first, and the step's unprofiled wall time: the
 * gap to the kernel total is JS (tape bookkeeping, input smoothing, uploads, garbage collection).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { PRESETS } from '../src/tasks/benchmark/presets.js';
import { finetuneStepInputs } from './finetune.js';
import { addRow as add, argOf as arg, printRows as print, type ProfileRow as Row } from './profile-table.js';

await selectBackend();
const steps = Number(arg('--steps') ?? 3);
const cfg = resolveConfig(PRESETS.quick.config);
const batch = cfg.finetune.batchSize;
const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0));
const { raw, targets, weights } = finetuneStepInputs(cfg);
const step = () => net.trainStep(raw, batch, targets, weights);
for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const wall = (performance.now() - t0) / steps;
const info = await tf.profile(() => {
  for (let i = 0; i < steps; i++) step();
});
const byName = new Map<string, Row>();
const byShape = new Map<string, Row>();
let total = 0;
for (const k of info.kernels) {
  // customGrad forwards ('forward') and composite ops ('...__op') contain other kernels: count leaves only
  if (k.name === 'forward' || k.name.endsWith('__op')) continue;
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  total += ms;
  add(byName, k.name, ms);
  add(byShape, `${k.name} ${JSON.stringify(k.inputShapes)}`, ms);
}
console.log(
  `step ${wall.toFixed(1)} ms unprofiled; kernels ${(total / steps).toFixed(1)} ms/step in ${info.kernels.length / steps} kernel calls/step`,
);
print('by kernel', byName, steps, 25);
print('by kernel and input shapes', byShape, steps, Number(arg('--top') ?? 40));
net.dispose();

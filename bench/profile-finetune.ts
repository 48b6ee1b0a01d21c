/*
 * Where the finetuning step spends its time: `node --import tsx bench/profile-finetune.ts [--steps 3]
 * [--top 40]`. The step of bench/finetune.ts (quick preset: `tiny`, batch 2, crop 4x128x128, BCE with
 * boundary weights); warm-up steps, then `steps` steps under tf.profile. Prints the kernel time per
 * kernel name and per (kernel, input shapes), largest first, and the step's unprofiled wall and CPU time
 * (and the first three steps of the process, part of every finetune's fixed cost): the gap between the
 * wall time and the kernel total is JS (tape bookkeeping, input smoothing, uploads, garbage collection).
 * Kernel times are wall times: on a loaded machine they include time the process waited for a core.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { PRESETS } from '../src/tasks/benchmark/presets.js';
import { loadavg } from 'node:os';
import { timed } from './clock.js';
import { finetuneStepInputs } from './finetune.js';
import { addRow as add, argOf as arg, printRows as print, type ProfileRow as Row } from './profile-table.js';

await selectBackend();
const steps = Number(arg('--steps') ?? 3);
const cfg = resolveConfig(PRESETS.quick.config);
const batch = cfg.finetune.batchSize;
const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0));
const { raw, targets, weights } = finetuneStepInputs(cfg);
const step = () => net.trainStep(raw, batch, targets, weights);
// the first steps of a fresh process: part of every finetune's fixed cost (V8 compiling and tiering up
// JS and wasm, the generated loops' modules, the heap growing)
const cold: string[] = [];
for (let i = 0; i < 3; i++) {
  const t = timed(step);
  cold.push(`${t.wall.toFixed(0)}/${t.cpu.toFixed(0)}`);
}
const warm = timed(() => {
  for (let i = 0; i < steps; i++) step();
});
const wall = warm.wall / steps;
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
let calls = 0;
for (const k of info.kernels) if (!(k.name === 'forward' || k.name.endsWith('__op'))) calls++;
console.log(
  `first 3 steps (wall/CPU ms): ${cold.join(', ')}; then ${wall.toFixed(1)} ms a step unprofiled (CPU ${(warm.cpu / steps).toFixed(1)} ms, load ${loadavg()[0]!.toFixed(1)})`,
);
console.log(
  `kernels ${(total / steps).toFixed(1)} ms/step in ${calls / steps} kernel calls/step; the rest of the step (JS: the engine's bookkeeping per kernel, tape, uploads, GC) ${(wall - total / steps).toFixed(1)} ms`,
);
print('by kernel', byName, steps, 25);
print('by kernel and input shapes', byShape, steps, Number(arg('--top') ?? 40));
net.dispose();

/*
 * The plain tfjs matmul kernel on its own: the ceiling a train step's matmuls can reach. `npm run bench --
 * --only matmul`, or `node --import tsx bench/matmul-peak.ts`. For a MIM preset, every 2-D matmul of
 * one train step (each linear layer's forward x·W, and its backward dY·Wᵀ and Xᵀ·dY) is timed with fixed
 * operands; the peak is their total FLOPs over their total time, i.e. the step's matmul FLOPs at kernel
 * speed. Attention's per-head matmuls are not in it (the backend has no fast batched kernel to compare).
 * The `fresh_operand` figures give every call a new right operand, as a train step does (weights and
 * gradients are new tensors each step, and the kernel repacks its right operand for each new tensor).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type ModelConfig } from '../src/core/config.js';
import { timed } from './clock.js';

/** A 2-D matmul `[m, k] x [k, n]`. */
export type MatmulShape = [m: number, k: number, n: number];

/** The 2-D matmuls of one MAE train step (forward and backward) of a model config, batch and mask ratio. */
export function mimMatmulShapes(model: ModelConfig, batch: number, ratio: number): MatmulShape[] {
  const np = model.crop.reduce((a, c, i) => a * (c / model.patch[i]!), 1);
  const pv = model.patch.reduce((a, b) => a * b, 1);
  const visible = model.mode === 'simmim' ? np : Math.max(1, Math.round(np * (1 - ratio)));
  const re = batch * visible;
  const rd = batch * np;
  const layers: MatmulShape[] = [[re, pv, model.embedDim]];
  const block = (rows: number, d: number) => {
    const h = Math.round(d * model.mlpRatio);
    layers.push([rows, d, 3 * d], [rows, d, d], [rows, d, h], [rows, h, d]);
  };
  for (let i = 0; i < model.depth; i++) block(re, model.embedDim);
  layers.push([re, model.embedDim, model.decoderDim]);
  for (let i = 0; i < model.decoderDepth; i++) block(rd, model.decoderDim);
  layers.push([rd, model.decoderDim, pv]);
  // forward x·W, then backward dX = dY·Wᵀ and dW = Xᵀ·dY (no dX for the patch embedding: its input is data)
  return layers.flatMap(([m, k, n], i): MatmulShape[] =>
    i === 0
      ? [
          [m, k, n],
          [k, m, n],
        ]
      : [
          [m, k, n],
          [m, n, k],
          [k, m, n],
        ],
  );
}

/**
 * Best wall and CPU time (ms) of one plain matmul of a shape over `reps` timed calls. Operands are fixed,
 * unless `freshB`: then every call gets a new right operand, as in a train step where weights and
 * gradients are new tensors each time and the kernel must repack them.
 */
export function timeMatmul(
  [m, k, n]: MatmulShape,
  reps: number,
  freshB = false,
): { wall: number; cpu: number } {
  const a = tf.randomUniform([m, k], -1, 1) as tf.Tensor2D;
  const bs = Array.from(
    { length: freshB ? reps + 1 : 1 },
    () => tf.randomUniform([k, n], -1, 1) as tf.Tensor2D,
  );
  try {
    tf.matMul(a, bs[0]!).dispose(); // warm up
    const best = { wall: Infinity, cpu: Infinity };
    for (let i = 0; i < reps; i++) {
      const b = bs[freshB ? i + 1 : 0]!;
      const t = timed(() => tf.matMul(a, b).dispose());
      best.wall = Math.min(best.wall, t.wall);
      best.cpu = Math.min(best.cpu, t.cpu);
    }
    return best;
  } finally {
    tf.dispose([a, ...bs]);
  }
}

/** A list of matmuls' total FLOPs over the total of each shape's best time (wall, and CPU). */
export function matmulPeak(
  shapes: MatmulShape[],
  reps: number,
  freshB = false,
): { gflops: number; gflopsCpu: number; ms: number } {
  let flops = 0;
  let wall = 0;
  let cpu = 0;
  for (const s of shapes) {
    flops += 2 * s[0] * s[1] * s[2];
    const t = timeMatmul(s, reps, freshB);
    wall += t.wall;
    cpu += t.cpu;
  }
  return { gflops: flops / wall / 1e6, gflopsCpu: flops / cpu / 1e6, ms: wall };
}

/** Rows for bench/run.ts: the `small` step's matmuls, a few of them alone, and 1024^3. */
export async function benchMatmulPeak(opts: { reps?: number } = {}): Promise<object[]> {
  const reps = opts.reps ?? 5;
  const cfg = resolveConfig({ model: { preset: 'small' } });
  const shapes = mimMatmulShapes(cfg.model, 8, 0.75);
  const step = matmulPeak(shapes, reps);
  const fresh = matmulPeak(shapes, reps, true);
  const each: Record<string, number> = {};
  for (const s of [
    [512, 192, 768],
    [128, 192, 576],
    [512, 768, 192],
  ] as MatmulShape[])
    each[s.join('x')] = +((2 * s[0] * s[1] * s[2]) / timeMatmul(s, reps).wall / 1e6).toFixed(2);
  const big: MatmulShape = [1024, 1024, 1024];
  each['1024x1024x1024'] = +((2 * 1024 ** 3) / timeMatmul(big, Math.min(reps, 3)).wall / 1e6).toFixed(2);
  return [
    {
      name: 'matmul_peak',
      small_step_shapes_gflops: +step.gflops.toFixed(2),
      small_step_shapes_gflops_cpu: +step.gflopsCpu.toFixed(2),
      small_step_shapes_fresh_operand_gflops: +fresh.gflops.toFixed(2),
      small_step_shapes_fresh_operand_gflops_cpu: +fresh.gflopsCpu.toFixed(2),
      small_step_matmuls: shapes.length,
      small_step_matmul_ms: +step.ms.toFixed(1),
      gflops: each,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = await selectBackend();
  for (const r of await benchMatmulPeak()) console.log(JSON.stringify({ backend: backend.name, ...r }));
}

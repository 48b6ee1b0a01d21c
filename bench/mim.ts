/*
 * MIM training throughput: `npm run bench -- --only mim`, or directly
 * `node --import tsx bench/mim.ts [--presets tiny,small] [--modes mae,simmim] [--steps 8] [--reps 3]`.
 * One JSON row per (preset, mode): samples/s, step ms (best of `reps` timed runs), and GFLOP/s counting
 * forward + backward as 3x the forward matmul FLOPs, at mask ratio 0.75, batch 8, crop 16x64x64.
 */
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { selectBackend } from '../src/core/backend.js';
import { MimModel } from '../src/models/mim-model.js';

interface BenchOptions {
  presets?: ('tiny' | 'small')[];
  modes?: ('mae' | 'simmim')[];
  batch?: number;
  /** Timed steps per repetition. */
  steps?: number;
  /** Repetitions; the best is reported (the machine is shared). */
  reps?: number;
  ratio?: number;
}

/** A batch of smooth random crops and per-sample masks with exactly `ratio` of the patches masked. */
function makeBatch(rng: Rng, batch: number, voxels: number, numPatches: number, ratio: number) {
  const raw = new Float32Array(batch * voxels);
  for (let i = 0; i < raw.length; i++) raw[i] = 0.5 + 0.2 * Math.sin(i * 0.01) + 0.1 * rng.next();
  const mask = new Uint8Array(batch * numPatches);
  const k = Math.round(numPatches * ratio);
  for (let b = 0; b < batch; b++) {
    const idx = rng.shuffle(Array.from({ length: numPatches }, (_, i) => i));
    for (let i = 0; i < k; i++) mask[b * numPatches + idx[i]!] = 1;
  }
  return { raw, mask };
}

/** Rows for bench/run.ts. */
export async function benchMim(opts: BenchOptions = {}): Promise<object[]> {
  const presets = opts.presets ?? ['tiny', 'small'];
  const modes = opts.modes ?? ['mae'];
  const batch = opts.batch ?? 8;
  const steps = opts.steps ?? 8;
  const reps = opts.reps ?? 3;
  const ratio = opts.ratio ?? 0.75;
  const rows: object[] = [];
  for (const preset of presets) {
    for (const mode of modes) {
      const cfg = resolveConfig({ model: { preset, mode } });
      const model = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(0));
      const rng = Rng.fromSeed(1);
      const voxels = cfg.model.crop.reduce((a, b) => a * b, 1);
      const data = makeBatch(rng, batch, voxels, model.numPatches, ratio);
      for (let i = 0; i < 2; i++) model.trainStep(data.raw, batch, data.mask); // warm up
      let best = Infinity;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) model.trainStep(data.raw, batch, data.mask);
        best = Math.min(best, (performance.now() - t0) / steps);
      }
      const flops = 3 * 2 * model.macsPerSample(ratio) * batch;
      rows.push({
        name: 'mim_train_step',
        config: preset,
        mode,
        batch,
        crop: cfg.model.crop,
        mask_ratio: ratio,
        samples_per_s: +((1000 * batch) / best).toFixed(2),
        gflops: +(flops / best / 1e6).toFixed(2),
        step_ms: +best.toFixed(1),
        tensors: tf.memory().numTensors,
      });
      model.dispose();
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const backend = await selectBackend();
  const rows = await benchMim({
    presets: arg('--presets')?.split(',') as BenchOptions['presets'],
    modes: arg('--modes')?.split(',') as BenchOptions['modes'],
    steps: arg('--steps') ? Number(arg('--steps')) : undefined,
    reps: arg('--reps') ? Number(arg('--reps')) : undefined,
  });
  for (const r of rows) console.log(JSON.stringify({ backend: backend.name, ...r }));
}

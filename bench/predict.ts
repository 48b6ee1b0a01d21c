/*
 * Whole-volume affinity prediction throughput: `npm run bench -- --only predict`, or directly
 * `node --import tsx bench/predict.ts`. The tiny affinity network (preset 'tiny' encoder, crop 16x64x64,
 * random weights: speed does not depend on them) predicts a synthetic 16x256x256 volume by sliding
 * windows with overlap 0.5, batch 4; then 30x512x512 when the first run suggests it takes < 2 minutes.
 * One row per volume: windows, seconds, voxels/s.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { windowStarts } from '../src/tasks/segmentation/sliding-window.js';
import { predictAffinities } from '../src/tasks/segmentation/predict.js';

interface BenchPredictOptions {
  /** Volumes to predict, in order. Default 16x256x256 then 30x512x512. */
  shapes?: Shape3[];
  /** Skip a volume whose estimated time (from the previous rate) is above this. Default 120 s. */
  maxSeconds?: number;
  overlap?: number;
  batch?: number;
}

function windowCount(shape: Shape3, win: Shape3, overlap: number): number {
  return shape.reduce((n, s, i) => n * windowStarts(Math.max(s, win[i]!), win[i]!, overlap).length, 1);
}

/** Rows for bench/run.ts. */
export async function benchPredict(opts: BenchPredictOptions = {}): Promise<object[]> {
  const shapes = opts.shapes ?? [
    [16, 256, 256],
    [30, 512, 512],
  ];
  const maxSeconds = opts.maxSeconds ?? 120;
  const overlap = opts.overlap ?? 0.5;
  const batch = opts.batch ?? 4;
  const cfg = resolveConfig({ model: { preset: 'tiny' } });
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0));
  const rows: object[] = [];
  try {
    net.predict(new Float32Array(cfg.model.crop.reduce((a, b) => a * b, 1)), 1); // warm up kernels
    let secondsPerWindow: number | null = null;
    for (const shape of shapes) {
      const windows = windowCount(shape, net.crop, overlap);
      const estimate = secondsPerWindow === null ? 0 : secondsPerWindow * windows;
      const voxels = shape[0] * shape[1] * shape[2];
      if (estimate > maxSeconds) {
        rows.push({
          bench: 'predict',
          volume: shape.join('x'),
          windows,
          skipped: `estimated ${Math.round(estimate)} s > ${maxSeconds} s`,
        });
        continue;
      }
      const { raw } = generateSynthetic({ shape, seed: 1 });
      const tensors = tf.memory().numTensors;
      const t0 = performance.now();
      const aff = await predictAffinities(net, raw, { overlap, batch });
      const seconds = (performance.now() - t0) / 1000;
      secondsPerWindow = seconds / windows;
      rows.push({
        bench: 'predict',
        model: 'tiny',
        crop: net.crop.join('x'),
        volume: shape.join('x'),
        overlap,
        batch,
        windows,
        seconds: Number(seconds.toFixed(2)),
        voxelsPerSecond: Math.round(voxels / seconds),
        windowsPerSecond: Number((windows / seconds).toFixed(2)),
        outputValues: aff.length,
        leakedTensors: tf.memory().numTensors - tensors,
      });
    }
  } finally {
    net.dispose();
  }
  return rows;
}

// Run directly: print the rows.
if (import.meta.url === `file://${process.argv[1]}`) {
  await selectBackend();
  for (const row of await benchPredict()) console.log(JSON.stringify(row));
}

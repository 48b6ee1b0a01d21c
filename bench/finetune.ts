/*
 * Finetuning throughput: `npm run bench -- --only finetune`, or directly `node --import tsx
 * bench/finetune.ts [--steps 6] [--reps 3]`. One update of the affinity network as the quick preset runs
 * it: `tiny` encoder, batch 2, the preset's crop (4x128x128) and default decoder (with the in-plane
 * U-Net), BCE with boundary weights (1 + 2 on boundary voxels). Data are synthetic: the cost does not depend on them.
 * Row `finetune_step`: samples/s and ms per step (best of `reps` timed runs; the machine may be shared),
 * wall and CPU, and the ratio to the figure at the start of issue 14.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type Config } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { PRESETS } from '../src/tasks/benchmark/presets.js';
import { timed } from './clock.js';

/**
 * Issue 14's start figure: `dbmim finetune --scratch` on ISBI, `tiny`, batch 2, 0.36 s a step on a
 * 2-core machine of the kind the project runs on (its target: at least twice this).
 */
const ISSUE_START_SAMPLES_PER_S = 5.5;

interface BenchFinetuneOptions {
  /** Timed steps per repetition. */
  steps?: number;
  /** Repetitions; the best is reported. */
  reps?: number;
}

/**
 * Synthetic inputs of one step at `cfg`'s batch and crop: raw in [0, 1); the affinities of random blobs,
 * about 10 % boundary (0) and the rest 1; boundary voxels weighing 1 + boundaryWeight.
 */
export function finetuneStepInputs(cfg: Config): {
  raw: Float32Array;
  targets: Float32Array;
  weights: Float32Array;
} {
  const batch = cfg.finetune.batchSize;
  const rng = Rng.fromSeed(1);
  const vox = cfg.model.crop.reduce((a, b) => a * b, 1);
  const raw = Float32Array.from({ length: batch * vox }, () => rng.next());
  const targets = Float32Array.from({ length: batch * 3 * vox }, () => (rng.next() < 0.1 ? 0 : 1));
  const weights = Float32Array.from(targets, (t) => (t === 0 ? 1 + cfg.finetune.boundaryWeight : 1));
  return { raw, targets, weights };
}

/** Rows for bench/run.ts. */
export async function benchFinetune(opts: BenchFinetuneOptions = {}): Promise<object[]> {
  const steps = opts.steps ?? 6;
  const reps = opts.reps ?? 3;
  const cfg = resolveConfig(PRESETS.quick.config);
  const batch = cfg.finetune.batchSize;
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0));
  const { raw, targets, weights } = finetuneStepInputs(cfg);
  try {
    for (let i = 0; i < 2; i++) net.trainStep(raw, batch, targets, weights); // warm up
    const tensors = tf.memory().numTensors;
    let best = Infinity;
    let bestCpu = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = timed(() => {
        for (let i = 0; i < steps; i++) net.trainStep(raw, batch, targets, weights);
      });
      best = Math.min(best, t.wall / steps);
      bestCpu = Math.min(bestCpu, t.cpu / steps);
    }
    return [
      {
        name: 'finetune_step',
        config: cfg.model.preset,
        batch,
        crop: cfg.model.crop,
        loss: cfg.finetune.loss,
        samples_per_s: +((1000 * batch) / best).toFixed(2),
        step_ms: +best.toFixed(1),
        step_cpu_ms: +bestCpu.toFixed(1),
        vs_issue_start: +((1000 * batch) / best / ISSUE_START_SAMPLES_PER_S).toFixed(2),
        leaked_tensors: tf.memory().numTensors - tensors,
      },
    ];
  } finally {
    net.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const backend = await selectBackend();
  for (const r of await benchFinetune({ steps: arg('--steps'), reps: arg('--reps') }))
    console.log(JSON.stringify({ backend: backend.name, ...r }));
}

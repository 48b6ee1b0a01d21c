/*
 * End to end on the synthetic generator: pretrain a MIM model briefly (random 0.75 masks), finetune the
 * affinity network from its encoder, predict a validation and a test volume, choose the segmentation
 * parameters (seed dynamic, merge threshold) on validation, then segment and score the test volume (VOI,
 * adapted Rand) with them — the benchmark's own scoring path; the same finetuning from scratch (same
 * steps, seed, crops, augmentation and decoder init) is the control.
 *
 * Run: node --import tsx examples/finetune-evaluate.ts [pretrainSteps] [finetuneSteps]
 * Prints one JSON object: losses, seconds and the scores of both arms (test scores at the parameters
 * chosen on validation, and the test sweep for reading only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type Config } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { CropSampler } from '../src/data/crop-sampler.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';
import { MimModel } from '../src/models/mim-model.js';
import { scoreOnSplit } from '../src/tasks/benchmark/score-split.js';
import type { SegmentationScores } from '../src/tasks/eval/index.js';
import { finetune, type LabelledVolume } from '../src/tasks/segmentation/finetune.js';
import { predictAffinities } from '../src/tasks/segmentation/predict.js';

export interface FinetuneEvaluateOptions {
  /** Run seed (model init, crops, masks, augmentation). Default 0. */
  seed?: number;
  /** MIM updates of the pretraining. Default 300. */
  pretrainSteps?: number;
  /** MIM batch size. Default 4. */
  pretrainBatch?: number;
  /** Mask ratio of the random masks. Default 0.75. */
  maskRatio?: number;
  /** Finetuning updates (both arms). Default 300. */
  finetuneSteps?: number;
  /** Unlabelled pretraining volume (large), labelled training volume (small), held-out test volume. */
  pretrainShape?: Shape3;
  trainShape?: Shape3;
  testShape?: Shape3;
  /** Agglomeration thresholds. Default 0.1..0.9. */
  thresholds?: number[];
  /** Working directory for the MIM checkpoint (default: a temp dir, removed afterwards). */
  workDir?: string;
  /** Print progress to stderr. Default true. */
  verbose?: boolean;
}

/** Scores of one arm. */
export interface ArmResult {
  encoder: string;
  finalTrainLoss: number;
  validLoss: { step: number; loss: number }[];
  finetuneSeconds: number;
  predictSeconds: number;
  /** Parameters chosen on the validation volume, with its scores there. */
  validation: { seedH: number; threshold: number; scores: SegmentationScores };
  /** Test scores at those parameters. */
  test: SegmentationScores & { seedH: number; threshold: number };
  /** The test sweep over thresholds at the chosen seed dynamic (for reading, not for choosing). */
  sweep: (SegmentationScores & { threshold: number })[];
}

export interface FinetuneEvaluateResult {
  config: { model: Config['model']; finetune: Config['finetune'] };
  pretrain: { steps: number; firstLoss: number; lastLoss: number; seconds: number };
  pretrained: ArmResult;
  scratch: ArmResult;
}

/** A small model: a 2x4x4 patch grid on 8x64x64 crops, two blocks of width 64. */
function exampleConfig(seed: number, finetuneSteps: number): Config {
  return resolveConfig({
    seed,
    model: {
      crop: [8, 64, 64],
      patch: [4, 16, 16],
      embedDim: 64,
      depth: 2,
      heads: 4,
      decoderDim: 32,
      decoderHeads: 2,
    },
    optim: { lr: 1.5e-3, warmupSteps: 20 },
    // lr 5e-3: at the config default (1e-3) a few hundred steps leave the affinities too soft to segment.
    finetune: {
      steps: finetuneSteps,
      batchSize: 2,
      lr: 5e-3,
      validEvery: 50,
      loss: 'bce',
      boundaryWeight: 1,
    },
  });
}

/** Random masks with exactly `ratio` of each sample's patches masked. */
function randomMasks(rng: Rng, batch: number, numPatches: number, ratio: number): Uint8Array {
  const mask = new Uint8Array(batch * numPatches);
  const k = Math.round(numPatches * ratio);
  for (let b = 0; b < batch; b++) {
    const idx = rng.shuffle(Array.from({ length: numPatches }, (_, i) => i));
    for (let i = 0; i < k; i++) mask[b * numPatches + idx[i]!] = 1;
  }
  return mask;
}

async function evaluateArm(
  arm: Awaited<ReturnType<typeof finetune>>,
  valid: LabelledVolume,
  test: LabelledVolume,
  config: Config,
): Promise<ArmResult> {
  const net = arm.net!;
  try {
    const t0 = performance.now();
    const predict = (v: LabelledVolume) => predictAffinities(net, v.raw, { overlap: 0.5, batch: 4 });
    const affValid = await predict(valid);
    const aff = await predict(test);
    const predictSeconds = (performance.now() - t0) / 1000;
    const s = scoreOnSplit(
      { affinities: affValid, volume: valid },
      { affinities: aff, volume: test },
      config,
    );
    return {
      encoder: arm.encoder,
      finalTrainLoss: arm.trainLoss.length ? arm.trainLoss[arm.trainLoss.length - 1]!.loss : NaN,
      validLoss: arm.validLoss,
      finetuneSeconds: arm.seconds,
      predictSeconds,
      validation: s.validation,
      test: s.test,
      sweep: s.perThreshold,
    };
  } finally {
    net.dispose();
  }
}

/** Pretrain, finetune (pretrained and scratch), predict, segment and score. */
export async function main(opts: FinetuneEvaluateOptions = {}): Promise<FinetuneEvaluateResult> {
  const seed = opts.seed ?? 0;
  const pretrainSteps = opts.pretrainSteps ?? 300;
  const pretrainBatch = opts.pretrainBatch ?? 4;
  const ratio = opts.maskRatio ?? 0.75;
  const thresholds = opts.thresholds ?? [0.1, 0.3, 0.5, 0.7, 0.9];
  const verbose = opts.verbose ?? true;
  const say = (s: string) => verbose && process.stderr.write(s + '\n');
  const base = exampleConfig(seed, opts.finetuneSteps ?? 300);
  // the example's threshold grid; no small-segment cleanup (as `segment` without --min-size)
  const config: Config = { ...base, eval: { ...base.eval, thresholds, minSize: 0 } };
  await selectBackend();

  // Four independent synthetic volumes: unlabelled pretraining data, a small labelled training set, a
  // held-out test volume, and a held-out validation volume (the loss curve and the segmentation parameters).
  const pre = generateSynthetic({ shape: opts.pretrainShape ?? [24, 128, 128], seed: `${seed}/pretrain` });
  const train = generateSynthetic({ shape: opts.trainShape ?? [12, 96, 96], seed: `${seed}/train` });
  const valid = generateSynthetic({ shape: [8, 64, 64], seed: `${seed}/valid` });
  const test = generateSynthetic({ shape: opts.testShape ?? [16, 128, 128], seed: `${seed}/test` });

  const work = opts.workDir ?? mkdtempSync(join(tmpdir(), 'dbmim-ft-eval-'));
  const mimDir = join(work, 'mim');
  try {
    // 1. MIM pretraining with random masks.
    const root = Rng.fromSeed(seed);
    const mim = new MimModel(config.model, config.optim, root.split('mim'), { totalSteps: pretrainSteps });
    const t0 = performance.now();
    const sampler = new CropSampler(
      { raw: pre.raw },
      { crop: config.model.crop, rng: root.split('crops'), augment: true },
    );
    const maskRng = root.split('masks');
    let firstLoss = NaN;
    let lastLoss = NaN;
    try {
      for (let s = 1; s <= pretrainSteps; s++) {
        const b = sampler.sample(pretrainBatch);
        const r = mim.trainStep(b.raw, b.n, randomMasks(maskRng, b.n, mim.numPatches, ratio));
        if (s === 1) firstLoss = r.loss;
        lastLoss = r.loss;
        if (s % 50 === 0) say(`pretrain ${s}/${pretrainSteps} loss ${r.loss.toFixed(4)}`);
      }
      await mim.save(mimDir);
    } finally {
      mim.dispose();
    }
    const pretrainSeconds = (performance.now() - t0) / 1000;

    // 2. Finetune both arms with the same seed, then predict, segment and score the test volume.
    const progress = (label: string) => (step: number, loss: number) => {
      if (step % 50 === 0) say(`finetune ${label} ${step}/${config.finetune.steps} loss ${loss.toFixed(4)}`);
    };
    const common = { config, train, valid, validCrops: 4, keepModel: true } as const;
    const armPre = await finetune({ ...common, encoderDir: mimDir, onStep: progress('pretrained') });
    const pretrained = await evaluateArm(armPre, valid, test, config);
    const armScratch = await finetune({ ...common, encoderDir: null, onStep: progress('scratch') });
    const scratch = await evaluateArm(armScratch, valid, test, config);
    return {
      config: { model: config.model, finetune: config.finetune },
      pretrain: { steps: pretrainSteps, firstLoss, lastLoss, seconds: pretrainSeconds },
      pretrained,
      scratch,
    };
  } finally {
    if (!opts.workDir) rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const num = (i: number) => (process.argv[i] !== undefined ? Number(process.argv[i]) : undefined);
  const r = await main({
    ...(num(2) !== undefined ? { pretrainSteps: num(2)! } : {}),
    ...(num(3) !== undefined ? { finetuneSteps: num(3)! } : {}),
  });
  const brief = (a: ArmResult) => ({
    encoder: a.encoder,
    seedH: a.test.seedH,
    threshold: a.test.threshold,
    voi_split: a.test.voi_split,
    voi_merge: a.test.voi_merge,
    voi_sum: a.test.voi_sum,
    arand: a.test.arand,
    finalValidLoss: a.validLoss.length ? a.validLoss[a.validLoss.length - 1]!.loss : null,
  });
  console.log(
    JSON.stringify({ pretrain: r.pretrain, pretrained: brief(r.pretrained), scratch: brief(r.scratch) }),
  );
  console.log(JSON.stringify(r));
}

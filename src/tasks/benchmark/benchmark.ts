import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { actInputOf } from '../../agents/env-io.js';
import { activeBackend } from '../../core/backend.js';
import { deepMerge, resolveConfig, type Config, type ConfigInput } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { Rng } from '../../core/rng.js';
import { CropSampler, cropFits } from '../../data/crop-sampler.js';
import type { CropBatch } from '../../data/types.js';
import { VERSION } from '../../version.js';
import { encodePng, grayToRgb, hstack, labelsToRgb } from '../report/png.js';
import { finetune } from '../segmentation/finetune.js';
import { encoderFromContainer, type EncoderWeights } from '../segmentation/encoder-source.js';
import { predictAffinities } from '../segmentation/predict.js';
import { buildPretraining, type PretrainSetup } from '../pretrain/build.js';
import { loadDataSplit, type DataSplit } from '../data-split.js';
import type {
  BenchmarkResults,
  ComparedScore,
  ComparisonRecord,
  ControlRecord,
  EvaluationRecord,
  FailedRun,
  HeldOutPoint,
  PretrainRecord,
  RunRecord,
} from './results.js';
import { heldOutAffinityLoss, learningFreeControl, scoreOnSplit, type HeldOut } from './score-split.js';
import type { AffinityNet } from '../../models/affinity-net.js';
import {
  ISBI_SPLIT,
  PRESET_NAMES,
  PRESETS,
  type BenchPreset,
  type LabelBudget,
  type Readout,
} from './presets.js';
import { writeReport } from './report.js';
import { runInProcesses, startWorkers, type WorkerProcess } from './jobs.js';
import { pairedDifference } from './paired-stats.js';
import {
  describeRecord,
  evaluationDir,
  finishedRun,
  resultFile,
  runName,
  type EvaluationSpec,
  type RunHooks,
  type RunOutcome,
  type RunSpec,
  type RunStage,
} from './run-spec.js';

/*
 * The main job: which masking policy gives the better encoder for neuron segmentation? For every encoder
 * row and seed: pretrain once (same MIM updates and crops for every policy), then read the encoder out at
 * every label budget (k labelled crops drawn once per seed from the training sections, the same for every
 * row) with a frozen-encoder probe and/or full finetuning; predict the validation and test sections,
 * choose the segmentation parameters on validation, score test once. Rows: the policies, `scratch` (no
 * pretraining: under the probe a frozen random encoder), `random-long` (random masking pretrained several
 * times longer, the positive control) and a learning-free control. The report opens with paired
 * differences over seeds (each policy - random, each pretrained row - scratch).
 * Each finished run is saved as OUT/runs/<row>-s<seed>/result.json (a row without pretraining runs one
 * part per evaluation, in parallel: result-<evaluation>.json); a re-run skips finished runs.
 * One run (a RunSpec) is the unit of work: executed in this process, in a worker process (`jobs`), or by
 * a queue worker, always through `executeRun` / `runOne`, so its result does not depend on where it ran.
 */

/** Name of the positive-control row (random masking pretrained `longPretrain` times longer). */
export const LONG_ROW = 'random-long';
/** The policy every policy is compared with, and the row every pretrained encoder is compared with. */
const POLICY_BASELINE = 'random';
const PRETRAIN_BASELINE = 'scratch';
/** Seed of the fixed crop the report's mask figure shows (the same crop for every policy). */
const MASK_PREVIEW_SEED = 12345;
/** File name of the shipped ISBI stack, whose split is known (ISBI_SPLIT). */
const SHIPPED_ISBI_FILE = 'isbi2012_train.h5';

/** What {@link runBenchmark} runs: the preset or explicit rows and seeds, the data, where outputs go, parallelism. */
export interface BenchmarkOptions {
  preset: BenchPreset['name'];
  /** HDF5 file (CREMI layout) or null for synthetic data. */
  data: string | null;
  outDir: string;
  /** Override the preset's policies / seeds. */
  policies?: string[];
  seeds?: number[];
  /** Override the preset's label budgets per readout. */
  readouts?: Partial<Record<Readout, LabelBudget[]>>;
  /** Extra config merged over the preset's (e.g. from --config and --set). */
  config?: ConfigInput;
  /** Skip the scratch control. */
  noScratch?: boolean;
  /** Skip the positive control (`random-long`). */
  noLong?: boolean;
  /**
   * Run each run in its own worker process, this many at a time. Unset: every run in this process, one
   * after the other. A run's result is the same either way.
   */
  jobs?: number;
  /** Modules a worker process imports before its run (e.g. plugins that register agents). */
  preload?: string[];
  /**
   * Run on a Redis job queue instead (BullMQ; `dbmim worker` processes execute the runs): the Redis URL
   * and the store directory every worker and this process share. Overrides `jobs`.
   */
  queue?: { url: string; store: string };
  /** Progress lines. */
  log?: (line: string) => void;
}

function presetOf(name: string): BenchPreset {
  const preset = PRESETS[name as BenchPreset['name']];
  if (!preset) throw new ConfigError(`unknown preset '${name}' (expected ${PRESET_NAMES.join(', ')})`);
  return preset;
}

const SPLIT_FIELDS = ['trainZ', 'validZ', 'evalZ'] as const;

/**
 * The data section of every run: synthetic volumes, the user's explicit split, or the shipped ISBI
 * stack's known split. Any other file without an explicit split is an error naming the fields to set.
 */
function dataSection(opts: BenchmarkOptions): Record<string, unknown> {
  if (opts.data === null) return { path: null, syntheticShape: [32, 128, 128] };
  // the shipped stack's split and label keys are known (the user's fields still override them)
  if (basename(opts.data) === SHIPPED_ISBI_FILE) return { path: opts.data, ...ISBI_SPLIT };
  const user = (opts.config?.data ?? {}) as Record<string, unknown>;
  const missing = SPLIT_FIELDS.filter((f) => user[f] === undefined || user[f] === null);
  if (!missing.length) return { path: opts.data };
  throw new ConfigError(
    `${opts.data}: the benchmark needs an explicit split of this file: set ${missing.map((f) => `data.${f}`).join(', ')} ` +
      '(sections [start, end): training for pretraining and finetuning, validation for choosing the ' +
      'segmentation parameters, test scored once; disjoint), e.g. --set data.trainZ=[0,16] ' +
      '--set data.validZ=[16,20] --set data.evalZ=[20,30]',
  );
}

/** The config of one run: preset, data split, user overrides, then the row's pretraining and seed. */
export function runConfig(opts: BenchmarkOptions, policy: string, seed: number): Config {
  const preset = presetOf(opts.preset);
  const base = deepMerge(preset.config as Record<string, unknown>, { data: dataSection(opts) });
  const merged = deepMerge(base, (opts.config ?? {}) as Record<string, unknown>);
  const row: Record<string, unknown> = { seed };
  const agent = pretrainAgentOf(policy);
  if (agent) row.agent = { name: agent };
  if (policy === LONG_ROW) {
    const t = resolveConfig(merged, `benchmark ${opts.preset}`).train;
    row.train = {
      phase1Steps: t.phase1Steps * preset.longPretrain,
      phase2Steps: t.phase2Steps * preset.longPretrain,
    };
  }
  const withRun = deepMerge(merged, row);
  if (opts.data === null) (withRun.eval as Record<string, unknown>).mode2d = false;
  return resolveConfig(withRun, `benchmark ${opts.preset}/${policy}/seed ${seed}`);
}

/** The agent a row pretrains with, or null for `scratch` (no pretraining). */
function pretrainAgentOf(policy: string): string | null {
  if (policy === PRETRAIN_BASELINE) return null;
  return policy === LONG_ROW ? POLICY_BASELINE : policy;
}

/** The evaluations of every run: each readout at each of its label budgets (probe first). */
export function evaluationsOf(readouts: Partial<Record<Readout, LabelBudget[]>>): EvaluationSpec[] {
  const out: EvaluationSpec[] = [];
  for (const readout of ['probe', 'finetune'] as const)
    for (const labelBudget of readouts[readout] ?? []) {
      if (labelBudget !== 'all' && !(Number.isInteger(labelBudget) && labelBudget >= 1))
        throw new ConfigError(`label budget: expected a positive integer or 'all', got ${labelBudget}`);
      out.push({ readout, labelBudget });
    }
  if (!out.length) throw new ConfigError('the benchmark needs at least one readout with a label budget');
  return out;
}

/** The spec of every run of the benchmark, in report order (seed-major). */
export function runSpecs(opts: BenchmarkOptions): RunSpec[] {
  const preset = presetOf(opts.preset);
  const policies = opts.policies ?? preset.policies;
  const seeds = opts.seeds ?? preset.seeds;
  const rows = [
    ...policies,
    ...(preset.scratch && !opts.noScratch && !policies.includes(PRETRAIN_BASELINE)
      ? [PRETRAIN_BASELINE]
      : []),
    ...(preset.longPretrain > 0 && !opts.noLong && !policies.includes(LONG_ROW) ? [LONG_ROW] : []),
  ];
  const evaluations = evaluationsOf(opts.readouts ?? preset.readouts);
  const splitConfig = runConfig(opts, rows[0] ?? POLICY_BASELINE, seeds[0] ?? 1);
  return seeds.flatMap((seed) =>
    rows.flatMap((policy) => {
      const spec: RunSpec = {
        policy,
        pretrainAgent: pretrainAgentOf(policy),
        seed,
        config: runConfig(opts, policy, seed),
        splitConfig,
        evaluations,
        dir: join('runs', runName(policy, seed)),
      };
      // a row without pretraining shares nothing between its evaluations: one run each, so they can
      // run in parallel (the records are merged back, see mergeParts)
      if (spec.pretrainAgent !== null || evaluations.length === 1) return [spec];
      return evaluations.map((e) => ({ ...spec, evaluations: [e], part: evaluationDir(e) }));
    }),
  );
}

/** The records of a split row's parts (same row and seed) merged into one, evaluations in order. */
function mergeParts(records: RunRecord[]): RunRecord[] {
  const out = new Map<string, RunRecord>();
  for (const r of records) {
    const k = runName(r.policy, r.seed);
    const seen = out.get(k);
    out.set(k, seen ? { ...seen, evaluations: [...seen.evaluations, ...r.evaluations] } : r);
  }
  return [...out.values()];
}

/** Pretrain with one policy and collect the curves and diagnostics of the report. */
async function pretrainPolicy(
  config: Config,
  split: DataSplit,
  dir: string,
  hooks: RunHooks = {},
): Promise<{ setup: PretrainSetup; record: PretrainRecord }> {
  const total = config.train.phase1Steps + config.train.phase2Steps;
  const setup = await buildPretraining(config, {
    outDir: dir,
    source: split.train,
    valid: split.valid?.raw ?? null,
  });
  const mimLoss: number[] = [];
  const heldOut: HeldOutPoint[] = [];
  const reward: number[] = [];
  const maskRatio: number[] = [];
  let diagnostics: Record<string, number> = {};
  setup.trainer.events$.subscribe((e) => {
    if (e.type === 'step') {
      hooks.progress?.('pretrain', e.step, total);
      mimLoss.push(e.mimLoss);
      reward.push(e.reward);
      maskRatio.push(e.maskRatio);
    } else if (e.type === 'heldOut') {
      heldOut.push({ step: e.step, loss: e.loss, baseline: e.baseline, ratio: e.ratio });
    } else if (e.type === 'update') {
      const d: Record<string, number> = {};
      for (const [k, v] of Object.entries(e.stats)) if (typeof v === 'number') d[k] = v;
      if (e.step <= config.train.phase1Steps || !('entropy' in diagnostics))
        diagnostics = { ...diagnostics, ...d };
    }
  });
  const r = await setup.trainer.run();
  return {
    setup,
    record: {
      steps: r.steps,
      seconds: r.seconds,
      finalMimLoss: r.finalMimLoss,
      mimLoss,
      heldOut,
      reward,
      maskRatio,
      diagnostics,
    },
  };
}

/** The policy's deterministic mask on one fixed crop (for the report's mask figure). */
function maskPreview(setup: PretrainSetup, seed: number): RunRecord['maskPreview'] {
  const { env, agent, model } = setup;
  const obs = env.reset({ seed }).observations;
  const crops = env.currentCrops;
  if (!crops) return null;
  const out = agent.act(actInputOf(env, obs, true));
  const [d, h, w] = model.crop;
  const [gz, gy, gx] = model.grid;
  const zMid = Math.floor(d / 2);
  const section = Array.from(crops.raw.subarray(zMid * h * w, (zMid + 1) * h * w));
  const pz = Math.floor((zMid * gz) / d);
  const mask = Array.from(out.actions.subarray(pz * gy * gx, (pz + 1) * gy * gx));
  return { section, mask, grid: [gz, gy, gx], crop: [d, h, w] };
}

/**
 * Execute one run where it is (a worker process, a queue worker): validate its config, load its data
 * split, run it under `root`. Writes `root/<spec.dir>/result.json` atomically and returns the record.
 */
export async function executeRun(spec: RunSpec, root: string, hooks: RunHooks = {}): Promise<RunRecord> {
  const where = `run ${runName(spec.policy, spec.seed)}`;
  const checked: RunSpec = {
    ...spec,
    config: resolveConfig(spec.config, `${where}: config`),
    splitConfig: resolveConfig(spec.splitConfig, `${where}: splitConfig`),
    evaluations: evaluationsOf(readoutsOf(spec.evaluations)),
  };
  const split = await runSplit(checked.splitConfig);
  return runOne(checked, root, split, hooks);
}

/**
 * The data split of runs with this (resolved) split config, loaded once per process: a worker executes
 * many runs of one benchmark, and loads their split while it waits for the first (jobs.ts).
 */
export function runSplit(splitConfig: Config): Promise<DataSplit> {
  const key = JSON.stringify(splitConfig);
  if (lastSplit?.key !== key) {
    const split = loadDataSplit(splitConfig);
    lastSplit = { key, split };
    split.catch(() => {
      if (lastSplit?.split === split) lastSplit = null; // a failed load is tried again
    });
  }
  return lastSplit.split;
}

/** The data split of the last executed run (see runSplit). */
let lastSplit: { key: string; split: Promise<DataSplit> } | null = null;

/** Label budgets per readout of a list of evaluations (inverse of evaluationsOf). */
function readoutsOf(evals: EvaluationSpec[]): Partial<Record<Readout, LabelBudget[]>> {
  const out: Partial<Record<Readout, LabelBudget[]>> = {};
  for (const e of evals) (out[e.readout] ??= []).push(e.labelBudget);
  return out;
}

/** Run `fn` as one stage of a run: reports the stage, returns its value and wall-clock seconds. */
async function timed<T>(
  stage: RunStage,
  hooks: RunHooks,
  fn: () => T | Promise<T>,
): Promise<{ value: T; seconds: number }> {
  hooks.progress?.(stage, 0, 0);
  const t = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t) / 1000 };
}

/**
 * The labelled crops of a seed's label budgets: the largest budget's crops drawn once from the training
 * part (a stream of the run seed alone, so every row at this seed gets the same ones); budget k uses the
 * first k. Crops have the network's input shape.
 */
export function labelBudgetCrops(split: DataSplit, config: Config, budgets: LabelBudget[]): CropBatch | null {
  const ks = budgets.filter((b): b is number => b !== 'all');
  if (!ks.length) return null;
  if (!split.train.labels) throw new ConfigError('label budgets need training labels');
  const sampler = new CropSampler(split.train, {
    crop: config.model.crop,
    rng: Rng.fromSeed(config.seed).split('label-budget'),
  });
  return sampler.sample(Math.max(...ks));
}

/** The first `k` crops of a pool. */
function firstCrops(pool: CropBatch, k: number): CropBatch {
  const vox = pool.shape[0] * pool.shape[1] * pool.shape[2];
  return {
    n: k,
    shape: [...pool.shape],
    raw: pool.raw.subarray(0, k * vox),
    labels: pool.labels!.subarray(0, k * vox),
  };
}

/** sha256 of crops' voxels and labels (results.json records which crops a budget used). */
function fingerprint(c: CropBatch): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(c.raw.buffer, c.raw.byteOffset, c.raw.byteLength));
  if (c.labels) h.update(new Uint8Array(c.labels.buffer, c.labels.byteOffset, c.labels.byteLength));
  return h.digest('hex');
}

/** One row x seed: pretrain once (unless scratch), then every readout at every label budget. */
async function runOne(spec: RunSpec, root: string, split: DataSplit, hooks: RunHooks): Promise<RunRecord> {
  const { policy, seed, config } = spec;
  const dir = join(root, spec.dir);
  mkdirSync(dir, { recursive: true });
  const log = hooks.log ?? (() => undefined);

  // Pretraining: once; the encoder's weights are copied out and the pretraining torn down.
  let pretrain: PretrainRecord | null = null;
  let preview: RunRecord['maskPreview'] = null;
  let encoder: EncoderWeights | null = null;
  if (spec.pretrainAgent !== null) {
    log(
      `  pretrain ${policy} seed ${seed}: ${config.train.phase1Steps} + ${config.train.phase2Steps} MIM updates`,
    );
    const p = await pretrainPolicy(config, split, join(dir, 'pretrain'), hooks);
    try {
      pretrain = p.record;
      preview = maskPreview(p.setup, MASK_PREVIEW_SEED);
      encoder = encoderFromContainer(p.setup.container);
    } finally {
      p.setup.dispose();
    }
  }

  // Readouts: the same encoder at every label budget.
  const pool = labelBudgetCrops(
    split,
    config,
    spec.evaluations.map((e) => e.labelBudget),
  );
  const evaluations: EvaluationRecord[] = [];
  for (const e of spec.evaluations) {
    const crops = e.labelBudget === 'all' ? null : firstCrops(pool!, e.labelBudget);
    evaluations.push(await evaluate(spec, e, encoder, crops, split, join(dir, evaluationDir(e)), hooks));
  }
  const record: RunRecord = { policy, seed, pretrain, evaluations, maskPreview: preview };
  writeFileAtomic(join(dir, resultFile(spec)), JSON.stringify({ spec, record }) + '\n');
  return record;
}

/** Finetune (or probe) the encoder on a label budget, predict validation and test, score test once. */
async function evaluate(
  spec: RunSpec,
  e: EvaluationSpec,
  encoder: EncoderWeights | null,
  crops: CropBatch | null,
  split: DataSplit,
  dir: string,
  hooks: RunHooks,
): Promise<EvaluationRecord> {
  const log = hooks.log ?? (() => undefined);
  // the probe is the same recipe with the encoder left out of the optimizer
  const config: Config = {
    ...spec.config,
    finetune: { ...spec.config.finetune, freezeEncoder: e.readout === 'probe' },
  };
  const steps = config.finetune.steps;
  log(
    `  ${e.readout} ${spec.policy} seed ${spec.seed}, ${crops ? `${crops.n} labelled crops` : 'all labels'}: ${steps} steps`,
  );
  // the token probe has no in-plane U-Net: boundaries must come from the frozen encoder's features
  const probeTokens = e.readout === 'probe' && config.finetune.probeHead === 'tokens';
  const ft = await finetune({
    config,
    ...(encoder ? { encoderWeights: encoder } : { encoderDir: null }),
    train: { raw: split.train.raw, labels: split.train.labels! },
    ...(crops ? { trainCrops: crops } : {}),
    ...(probeTokens ? { netOptions: { inPlaneChannels: [] } } : {}),
    outDir: join(dir, 'finetune'),
    keepModel: true,
    onStep: (step) => hooks.progress?.('finetune', step, steps),
  });
  const net = ft.net!;
  try {
    const va = split.valid!;
    const ev = split.eval!;
    const predicted = await timed('predict', hooks, () => predictHeldOut(net, va, ev, config));
    const { valid: affValid, test: affTest } = predicted.value;
    const scored = await timed('segment', hooks, () =>
      scoreOnSplit({ affinities: affValid, volume: va }, { affinities: affTest, volume: ev }, config),
    );
    writeSegPreview(join(dir, 'segmentation.png'), ev, scored.value.testLabels);
    const trainSplit = splitRecord(config, split.source);
    return {
      readout: e.readout,
      labelBudget: e.labelBudget,
      split: {
        ...trainSplit,
        train: crops
          ? `${crops.n} crops of ${crops.shape.join('x')} from ${trainSplit.train}`
          : trainSplit.train,
      },
      labelCrops: crops ? { k: crops.n, shape: [...crops.shape], sha256: fingerprint(crops) } : null,
      finetune: {
        steps: ft.trainLoss.length,
        seconds: ft.seconds,
        trainLoss: ft.trainLoss.map((p) => p.loss),
        validLoss: ft.validLoss.at(-1)?.loss ?? null,
      },
      predict: { seconds: predicted.seconds, voxels: ev.raw.data.length + va.raw.data.length },
      segment: { seconds: scored.seconds },
      validation: scored.value.validation,
      test: scored.value.test,
      affinityLoss: {
        validation: heldOutAffinityLoss(affValid, va, config),
        test: heldOutAffinityLoss(affTest, ev, config),
      },
      perThreshold: scored.value.perThreshold,
    };
  } finally {
    net.dispose();
  }
}

/**
 * Affinities of the validation and test volumes. Held-out sections thinner than the network's window
 * (4 validation sections of ISBI, window depth 16) would be predicted mostly from padding; where the two
 * are adjacent sections of one stack they are predicted as one block (raw only: no label is read) and
 * split afterwards.
 */
async function predictHeldOut(
  net: AffinityNet,
  valid: HeldOut,
  test: HeldOut,
  config: Config,
): Promise<{ valid: Float32Array; test: Float32Array }> {
  const opts = { overlap: config.eval.overlap, testTimeAugment: config.eval.testTimeAugment };
  const [vz, ez] = [config.data.validZ, config.data.evalZ];
  if (!vz || !ez || vz[1] !== ez[0])
    return {
      valid: await predictAffinities(net, valid.raw, opts),
      test: await predictAffinities(net, test.raw, opts),
    };
  const [dv, h, w] = valid.raw.shape;
  const dt = test.raw.shape[0];
  const plane = h * w;
  const raw = new Float32Array((dv + dt) * plane);
  raw.set(valid.raw.data);
  raw.set(test.raw.data, dv * plane);
  const block = await predictAffinities(net, { ...valid.raw, data: raw, shape: [dv + dt, h, w] }, opts);
  const part = (z0: number, d: number): Float32Array => {
    const out = new Float32Array(3 * d * plane);
    for (let c = 0; c < 3; c++)
      out.set(block.subarray((c * (dv + dt) + z0) * plane, (c * (dv + dt) + z0 + d) * plane), c * d * plane);
    return out;
  };
  return { valid: part(0, dv), test: part(dv, dt) };
}

/** Raw | ground truth | prediction of the held-out volume's middle section. */
function writeSegPreview(path: string, ev: NonNullable<DataSplit['eval']>, pred: Uint32Array): void {
  const [d, h, w] = ev.raw.shape;
  const z = Math.floor(d / 2);
  const sl = (a: Float32Array | Uint32Array) => a.subarray(z * h * w, (z + 1) * h * w);
  const row = hstack(
    [
      { rgb: grayToRgb(sl(ev.raw.data) as Float32Array, w, h), width: w },
      { rgb: labelsToRgb(sl(ev.labels.data) as Uint32Array, w, h), width: w },
      { rgb: labelsToRgb(sl(pred) as Uint32Array, w, h), width: w },
    ],
    h,
    6,
  );
  writeFileAtomic(path, encodePng(row.rgb, row.width, h));
}

/** Which sections each part of the protocol used, in words for results.json and the report. */
function splitRecord(config: Config, source: string): BenchmarkResults['split'] {
  const d = config.data;
  if (source.startsWith('synthetic'))
    return {
      train: 'synthetic volume (seed/train)',
      valid: 'synthetic volume (seed/valid)',
      test: 'synthetic volume (seed/eval)',
    };
  const z = (r: [number, number] | null) => (r ? `sections ${r[0]}-${r[1] - 1}` : 'all sections');
  return { train: z(d.trainZ), valid: z(d.validZ), test: z(d.evalZ) };
}

/** Run `todo` one after the other in this process (sharing the loaded split). */
async function runHere(
  todo: RunSpec[],
  specs: RunSpec[],
  root: string,
  split: DataSplit,
  log: (line: string) => void,
): Promise<RunOutcome[]> {
  const out: RunOutcome[] = [];
  const t0 = performance.now();
  for (const spec of todo) {
    log(
      `[${specs.indexOf(spec) + 1}/${specs.length}] ${spec.policy} seed ${spec.seed} (${((performance.now() - t0) / 1000).toFixed(0)} s elapsed)`,
    );
    const before = tf.memory().numTensors;
    const r = await runOne(spec, root, split, { log });
    log(
      `  ${spec.policy} seed ${spec.seed}: ${describeRecord(r)}; tensors ${before} -> ${tf.memory().numTensors}`,
    );
    out.push({ record: r });
  }
  return out;
}

/**
 * Run the benchmark; writes results.json, report.md and figures into `outDir` once every run has ended;
 * returns the report path. Runs that failed (a killed worker process) are listed in results and report,
 * and a re-run executes them.
 */
export async function runBenchmark(
  opts: BenchmarkOptions,
): Promise<{ report: string; results: BenchmarkResults }> {
  const startedAt = new Date().toISOString();
  const specs = runSpecs(opts);
  const log = opts.log ?? (() => undefined);
  mkdirSync(opts.outDir, { recursive: true });
  // Finished runs are read back; the others are executed here or in worker processes, which start now
  // (they load modules and the split meanwhile) and get their runs once the split has passed its checks.
  const records: (RunRecord | null)[] = specs.map((spec, i) => {
    const done = finishedRun(spec, opts.outDir);
    if (done) log(`[${i + 1}/${specs.length}] ${spec.policy} seed ${spec.seed}: finished earlier, skipped`);
    return done;
  });
  const todo = specs.filter((_, i) => records[i] === null);
  const backend = activeBackend()?.name ?? 'auto';
  const pool = { root: opts.outDir, backend, preload: opts.preload ?? [], log };
  const workers: WorkerProcess[] =
    opts.jobs !== undefined && !opts.queue ? startWorkers(todo, { ...pool, jobs: opts.jobs }) : [];
  let split: DataSplit;
  const first = specs[0]!.splitConfig;
  try {
    split = await loadDataSplit(first);
    checkSplit(split, specs, first);
  } catch (e) {
    await Promise.all(workers.map((w) => w.close()));
    throw e;
  }
  // Runs elsewhere (worker processes, the queue) are handed out first, longest first; this process
  // computes the learning-free control (it needs only the split) while they run, not after them.
  const elsewhere = opts.queue
    ? runQueued(todo, opts.queue, opts.outDir, backend, log)
    : opts.jobs !== undefined
      ? runInProcesses(todo, { ...pool, jobs: opts.jobs, workers })
      : null;
  if (elsewhere) {
    elsewhere.catch(() => undefined); // a failure is raised where it is awaited, below
    await new Promise((resolve) => setImmediate(resolve)); // the run requests go out now
  }
  log('learning-free control: smoothed intensity, parameters chosen on validation');
  const control = learningFreeControl(split.valid!, split.eval!, first);
  log(
    `  learning-free: test VOI sum ${control.test.voi_sum.toFixed(3)}, ARAND ${control.test.arand.toFixed(3)}`,
  );
  const outcomes = elsewhere ? await elsewhere : await runHere(todo, specs, opts.outDir, split, log);
  const failed: FailedRun[] = [];
  todo.forEach((spec, k) => {
    const o = outcomes[k]!;
    if ('record' in o) records[specs.indexOf(spec)] = o.record;
    else failed.push({ policy: spec.policy, seed: spec.seed, error: o.error });
  });
  return writeOutputs(
    opts,
    specs,
    split.source,
    mergeParts(records.filter((r) => r !== null)),
    failed,
    [control],
    startedAt,
  );
}

/** One error before any run starts (not one per run from inside each worker) for a split runs cannot use. */
function checkSplit(split: DataSplit, specs: RunSpec[], first: Config): void {
  if (!split.eval) throw new ConfigError('the benchmark needs a held-out test volume (data.evalZ)');
  if (!split.valid)
    throw new ConfigError(
      'the benchmark needs held-out validation sections to choose segmentation parameters (data.validZ)',
    );
  if (!split.train.labels)
    throw new ConfigError(`the benchmark needs training labels (${first.data.labelsKey})`);
  const trainShape = split.train.raw.shape;
  const tooLarge = specs.find((s) => !cropFits(trainShape, s.config.model.crop));
  if (tooLarge)
    throw new ConfigError(
      `model.crop ${tooLarge.config.model.crop.join('x')} is larger than the training volume ${trainShape.join('x')} (${split.source}): set a smaller model.crop or more training sections (data.trainZ)`,
    );
}

/** Run `todo` on the job queue (loaded only when asked for: workers and local runs do not need it). */
async function runQueued(
  todo: RunSpec[],
  q: { url: string; store: string },
  outDir: string,
  backend: string,
  log: (line: string) => void,
): Promise<RunOutcome[]> {
  const { checkStore, parseQueueUrl, runOnQueue } = await import('./queue.js');
  const target = parseQueueUrl(q.url);
  return runOnQueue(todo, { target, store: checkStore(q.store), outDir, backend, log });
}

/** The test scores compared per seed: segmentation (VOI sum, ARAND) and the boundary map's own loss. */
const COMPARED_SCORES = ['voi_sum', 'arand', 'affinity_loss'] as const;

function testScore(e: EvaluationRecord, score: ComparedScore): number | undefined {
  return score === 'affinity_loss' ? e.affinityLoss?.test : e.test[score];
}

/** Paired differences over seeds: each policy - random and each pretrained row - scratch. */
export function compareRows(runs: RunRecord[]): ComparisonRecord[] {
  // score of row at (readout, budget) by seed
  const table = new Map<string, Map<number, EvaluationRecord>>();
  const keyOf = (row: string, readout: Readout, b: LabelBudget) => `${row}|${readout}|${b}`;
  for (const r of runs)
    for (const e of r.evaluations) {
      const k = keyOf(r.policy, e.readout, e.labelBudget);
      if (!table.has(k)) table.set(k, new Map());
      table.get(k)!.set(r.seed, e);
    }
  const rows = [...new Set(runs.map((r) => r.policy))];
  const evals = [
    ...new Map(
      runs.flatMap((r) => r.evaluations).map((e) => [`${e.readout}|${e.labelBudget}`, e] as const),
    ).values(),
  ];
  const out: ComparisonRecord[] = [];
  for (const baseline of [PRETRAIN_BASELINE, POLICY_BASELINE]) {
    if (!rows.includes(baseline)) continue;
    const against = rows.filter((r) => r !== baseline && r !== PRETRAIN_BASELINE);
    for (const e of evals)
      for (const row of against)
        for (const score of COMPARED_SCORES) {
          // runs recorded before the affinity loss existed have none: they drop out of that comparison
          const of = (name: string) =>
            new Map(
              [...(table.get(keyOf(name, e.readout, e.labelBudget)) ?? new Map<number, EvaluationRecord>())]
                .map(([seed, x]) => [seed, testScore(x, score)] as const)
                .filter((p): p is readonly [number, number] => p[1] !== undefined),
            );
          const d = pairedDifference(of(row), of(baseline));
          if (!d.seeds.length) continue;
          out.push({ row, baseline, readout: e.readout, labelBudget: e.labelBudget, score, ...d });
        }
  }
  return out;
}

/** results.json, then report.md and figures, from the records of the finished runs. */
function writeOutputs(
  opts: BenchmarkOptions,
  specs: RunSpec[],
  source: string,
  runs: RunRecord[],
  failed: FailedRun[],
  controls: ControlRecord[],
  startedAt: string,
): { report: string; results: BenchmarkResults } {
  const results: BenchmarkResults = {
    format: 'dbmim-benchmark',
    version: 2,
    preset: opts.preset,
    data: source,
    backend: activeBackend()?.name ?? 'unknown',
    startedAt,
    policies: [...new Set(specs.map((s) => s.policy))],
    seeds: [...new Set(specs.map((s) => s.seed))],
    split: splitRecord(specs[0]!.splitConfig, source),
    config: { dbmim: VERSION, ...specs[0]!.splitConfig },
    readouts: readoutsOf(specs[0]!.evaluations),
    comparisons: compareRows(runs),
    runs,
    controls,
    ...(failed.length ? { failed } : {}),
  };
  writeFileAtomic(join(opts.outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  // previews: the best pretrained row and scratch, at the last evaluation (the most labels)
  const previews = new Map<string, string>();
  const last = specs[0]!.evaluations.length - 1;
  const lastDir = evaluationDir(specs[0]!.evaluations[last]!);
  const bestPolicy = [...runs]
    .filter((r) => r.policy !== PRETRAIN_BASELINE && r.evaluations[last])
    .sort((a, b) => a.evaluations[last]!.test.voi_sum - b.evaluations[last]!.test.voi_sum)[0];
  for (const r of [bestPolicy, runs.find((x) => x.policy === PRETRAIN_BASELINE)]) {
    if (r) previews.set(r.policy, `runs/${runName(r.policy, r.seed)}/${lastDir}/segmentation.png`);
  }
  const report = writeReport(opts.outDir, results, previews);
  return { report, results };
}

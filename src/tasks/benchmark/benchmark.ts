import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { actInputOf } from '../../agents/env-io.js';
import { activeBackend } from '../../core/backend.js';
import { deepMerge, resolveConfig, type Config, type ConfigInput } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { VERSION } from '../../version.js';
import { encodePng, grayToRgb, hstack, labelsToRgb } from '../report/png.js';
import { finetune } from '../segmentation/finetune.js';
import { predictAffinities } from '../segmentation/predict.js';
import { buildPretraining, publishEncoder, type PretrainSetup } from '../pretrain/build.js';
import { loadDataSplit, type DataSplit } from '../data-split.js';
import type { BenchmarkResults, ControlRecord, FailedRun, PretrainRecord, RunRecord } from './results.js';
import { learningFreeControl, scoreOnSplit, type HeldOut } from './score-split.js';
import type { AffinityNet } from '../../models/affinity-net.js';
import { ISBI_SPLIT, PRESETS, type BenchPreset } from './presets.js';
import { writeReport } from './report.js';
import { runInProcesses } from './jobs.js';

/*
 * The main job: which masking policy gives the better encoder for neuron segmentation? For every policy
 * and seed: pretrain (same MIM updates and crops for all), finetune the same segmentation recipe from that
 * encoder, predict the validation and test volumes, choose the segmentation parameters on validation,
 * score test; plus a `scratch` control and a learning-free control (smoothed intensity, no training).
 * Each finished run is saved as OUT/runs/<policy>-s<seed>/result.json; a re-run skips finished runs.
 * One run (a RunSpec) is the unit of work: executed in this process, in a worker process (`jobs`), or by
 * a queue worker, always through `executeRun` / `runOne`, so its result does not depend on where it ran.
 */

export interface BenchmarkOptions {
  preset: BenchPreset['name'];
  /** HDF5 file (CREMI layout) or null for synthetic data. */
  data: string | null;
  outDir: string;
  /** Override the preset's policies / seeds. */
  policies?: string[];
  seeds?: number[];
  /** Extra config merged over the preset's (e.g. from --config and --set). */
  config?: ConfigInput;
  /** Skip the scratch control. */
  noScratch?: boolean;
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

/** One run of a benchmark, as a worker executes it (plain JSON: it crosses process boundaries). */
export interface RunSpec {
  policy: string;
  seed: number;
  /** The run's resolved config. */
  config: Config;
  /** The config the data split is loaded from: every run of a benchmark shares its first run's split. */
  splitConfig: Config;
  /** Output directory of the run, relative to the root it is executed under (OUT, or a queue's store). */
  dir: string;
}

/** The parts of a run, in order (progress reports name them). */
export type RunStage = 'pretrain' | 'finetune' | 'predict' | 'segment';

/** Progress callbacks of one run. */
export interface RunHooks {
  log?: (line: string) => void;
  /** Called as the run moves on: the stage and, in stages that have steps, step / total. */
  progress?: (stage: RunStage, step: number, total: number) => void;
}

/** The config of one run: preset, data split, user overrides, then policy and seed. */
export function runConfig(opts: BenchmarkOptions, policy: string, seed: number): Config {
  const preset = PRESETS[opts.preset];
  if (!preset) throw new ConfigError(`unknown preset '${opts.preset}' (expected quick or full)`);
  const data: Record<string, unknown> =
    opts.data === null
      ? { path: null, syntheticShape: [32, 128, 128] }
      : {
          path: opts.data,
          trainZ: ISBI_SPLIT.trainZ,
          validZ: ISBI_SPLIT.validZ,
          evalZ: ISBI_SPLIT.evalZ,
          labelsKey: ISBI_SPLIT.labelsKey,
          evalLabelsKey: ISBI_SPLIT.evalLabelsKey,
        };
  const base = deepMerge(preset.config as Record<string, unknown>, { data });
  const merged = deepMerge(base, (opts.config ?? {}) as Record<string, unknown>);
  const withRun = deepMerge(merged, { seed, agent: { name: policy === 'scratch' ? 'random' : policy } });
  if (opts.data === null) (withRun.eval as Record<string, unknown>).mode2d = false;
  return resolveConfig(withRun, `benchmark ${opts.preset}/${policy}/seed ${seed}`);
}

/** A run's name and its directory under `runs/`. */
export function runName(policy: string, seed: number): string {
  return `${policy}-s${seed}`;
}

/** The spec of every run of the benchmark, in report order (seed-major). */
export function runSpecs(opts: BenchmarkOptions): RunSpec[] {
  const preset = PRESETS[opts.preset];
  if (!preset) throw new ConfigError(`unknown preset '${opts.preset}' (expected quick or full)`);
  const policies = opts.policies ?? preset.policies;
  const seeds = opts.seeds ?? preset.seeds;
  const all = [
    ...policies,
    ...(preset.scratch && !opts.noScratch && !policies.includes('scratch') ? ['scratch'] : []),
  ];
  const splitConfig = runConfig(opts, all[0] ?? 'random', seeds[0] ?? 1);
  return seeds.flatMap((seed) =>
    all.map((policy) => ({
      policy,
      seed,
      config: runConfig(opts, policy, seed),
      splitConfig,
      dir: join('runs', runName(policy, seed)),
    })),
  );
}

/** Pretrain with one policy and collect the curves and diagnostics of the report. */
async function pretrainPolicy(
  config: Config,
  split: DataSplit,
  dir: string,
  hooks: RunHooks = {},
): Promise<{ setup: PretrainSetup; record: PretrainRecord }> {
  const total = config.train.phase1Steps + config.train.phase2Steps;
  const setup = await buildPretraining(config, { outDir: dir, source: split.train });
  const mimLoss: number[] = [];
  const reward: number[] = [];
  const maskRatio: number[] = [];
  let diagnostics: Record<string, number> = {};
  setup.trainer.events$.subscribe((e) => {
    if (e.type === 'step') {
      hooks.progress?.('pretrain', e.step, total);
      mimLoss.push(e.mimLoss);
      reward.push(e.reward);
      maskRatio.push(e.maskRatio);
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
  };
  // A worker executes many runs of one benchmark: their shared split is loaded once.
  const key = JSON.stringify(checked.splitConfig);
  if (lastSplit?.key !== key) lastSplit = { key, split: loadDataSplit(checked.splitConfig) };
  const split = await lastSplit.split.catch((e: unknown) => {
    lastSplit = null;
    throw e;
  });
  return runOne(checked, root, split, hooks);
}

/** The data split of the last executed run (see executeRun). */
let lastSplit: { key: string; split: Promise<DataSplit> } | null = null;

/** One policy x seed: pretrain (unless scratch), finetune, predict, segment, evaluate. */
async function runOne(spec: RunSpec, root: string, split: DataSplit, hooks: RunHooks): Promise<RunRecord> {
  const { policy, seed, config } = spec;
  const dir = join(root, spec.dir);
  mkdirSync(dir, { recursive: true });
  const log = hooks.log ?? (() => undefined);
  let pre: PretrainRecord | null = null;
  let preview: RunRecord['maskPreview'] = null;
  let setup: PretrainSetup | null = null;
  if (policy !== 'scratch') {
    log(
      `  pretrain ${policy} seed ${seed}: ${config.train.phase1Steps} + ${config.train.phase2Steps} MIM updates`,
    );
    const p = await pretrainPolicy(config, split, join(dir, 'pretrain'), hooks);
    setup = p.setup;
    pre = p.record;
    preview = maskPreview(setup, 12345);
    publishEncoder(setup);
  }
  try {
    log(`  finetune ${policy} seed ${seed}: ${config.finetune.steps} steps`);
    const ft = await finetune({
      config,
      ...(setup ? { container: setup.container } : { encoderDir: null }),
      train: { raw: split.train.raw, labels: split.train.labels! },
      outDir: join(dir, 'finetune'),
      keepModel: true,
      onStep: (step) => hooks.progress?.('finetune', step, config.finetune.steps),
    });
    const net = ft.net!;
    const ev = split.eval!;
    const va = split.valid!;
    try {
      hooks.progress?.('predict', 0, 0);
      let t = performance.now();
      const { valid: affValid, test: aff } = await predictHeldOut(net, va, ev, config);
      const predictS = (performance.now() - t) / 1000;
      hooks.progress?.('segment', 0, 0);
      t = performance.now();
      const scored = scoreOnSplit(
        { affinities: affValid, volume: va },
        { affinities: aff, volume: ev },
        config,
      );
      const segmentS = (performance.now() - t) / 1000;
      writeSegPreview(join(dir, 'segmentation.png'), ev, scored.testLabels);
      const ftLoss = ft.trainLoss.map((p) => p.loss);
      const record: RunRecord = {
        policy,
        seed,
        pretrain: pre,
        finetune: {
          steps: ftLoss.length,
          seconds: ft.seconds,
          trainLoss: ftLoss,
          validLoss: ft.validLoss.at(-1)?.loss ?? null,
        },
        predict: { seconds: predictS, voxels: ev.raw.data.length + va.raw.data.length },
        segment: { seconds: segmentS },
        validation: scored.validation,
        test: scored.test,
        perThreshold: scored.perThreshold,
        maskPreview: preview,
      };
      writeFileAtomic(join(dir, 'result.json'), JSON.stringify({ config, record }) + '\n');
      return record;
    } finally {
      net.dispose();
    }
  } finally {
    setup?.dispose();
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
  const overlap = config.eval.overlap;
  const [vz, ez] = [config.data.validZ, config.data.evalZ];
  if (!vz || !ez || vz[1] !== ez[0])
    return {
      valid: await predictAffinities(net, valid.raw, { overlap }),
      test: await predictAffinities(net, test.raw, { overlap }),
    };
  const [dv, h, w] = valid.raw.shape;
  const dt = test.raw.shape[0];
  const plane = h * w;
  const raw = new Float32Array((dv + dt) * plane);
  raw.set(valid.raw.data);
  raw.set(test.raw.data, dv * plane);
  const block = await predictAffinities(
    net,
    { ...valid.raw, data: raw, shape: [dv + dt, h, w] },
    { overlap },
  );
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

/** A finished run's record when its result.json (under `root`) matches the config of `spec`. */
export function finishedRun(spec: RunSpec, root: string): RunRecord | null {
  const p = join(root, spec.dir, 'result.json');
  if (!existsSync(p)) return null;
  try {
    const saved = JSON.parse(readFileSync(p, 'utf8')) as { config: unknown; record: RunRecord };
    return JSON.stringify(saved.config) === JSON.stringify(spec.config) ? saved.record : null;
  } catch {
    return null;
  }
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

/** What became of one run: its record, or the error that ended it. */
export type RunOutcome = { record: RunRecord } | { error: string };

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
      `  ${spec.policy} seed ${spec.seed}: test VOI sum ${r.test.voi_sum.toFixed(3)}, ARAND ${r.test.arand.toFixed(3)} (seed h ${r.test.seedH}, threshold ${r.test.threshold}, chosen on validation); tensors ${before} -> ${tf.memory().numTensors}`,
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
  const specs = runSpecs(opts);
  const log = opts.log ?? (() => undefined);
  mkdirSync(opts.outDir, { recursive: true });
  const first = specs[0]!.splitConfig;
  const split = await loadDataSplit(first);
  if (!split.eval) throw new ConfigError('the benchmark needs a held-out test volume (data.evalZ)');
  if (!split.valid)
    throw new ConfigError(
      'the benchmark needs held-out validation sections to choose segmentation parameters (data.validZ)',
    );
  if (!split.train.labels)
    throw new ConfigError(`the benchmark needs training labels (${first.data.labelsKey})`);

  // Finished runs are read back; the others are executed here or in worker processes.
  const records: (RunRecord | null)[] = specs.map((spec, i) => {
    const done = finishedRun(spec, opts.outDir);
    if (done) log(`[${i + 1}/${specs.length}] ${spec.policy} seed ${spec.seed}: finished earlier, skipped`);
    return done;
  });
  const todo = specs.filter((_, i) => records[i] === null);
  const backend = activeBackend()?.name ?? 'auto';
  const outcomes = opts.queue
    ? await runQueued(todo, opts.queue, opts.outDir, backend, log)
    : opts.jobs === undefined
      ? await runHere(todo, specs, opts.outDir, split, log)
      : await runInProcesses(todo, {
          jobs: opts.jobs,
          root: opts.outDir,
          backend,
          preload: opts.preload ?? [],
          log,
        });
  const failed: FailedRun[] = [];
  todo.forEach((spec, k) => {
    const o = outcomes[k]!;
    if ('record' in o) records[specs.indexOf(spec)] = o.record;
    else failed.push({ policy: spec.policy, seed: spec.seed, error: o.error });
  });
  log('learning-free control: smoothed intensity, parameters chosen on validation');
  const control = learningFreeControl(split.valid, split.eval, first);
  log(
    `  learning-free: test VOI sum ${control.test.voi_sum.toFixed(3)}, ARAND ${control.test.arand.toFixed(3)}`,
  );
  return writeOutputs(
    opts,
    specs,
    split.source,
    records.filter((r) => r !== null),
    failed,
    [control],
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

/** results.json, then report.md and figures, from the records of the finished runs. */
function writeOutputs(
  opts: BenchmarkOptions,
  specs: RunSpec[],
  source: string,
  runs: RunRecord[],
  failed: FailedRun[],
  controls: ControlRecord[],
): { report: string; results: BenchmarkResults } {
  const results: BenchmarkResults = {
    format: 'dbmim-benchmark',
    version: 1,
    preset: opts.preset,
    data: source,
    backend: activeBackend()?.name ?? 'unknown',
    startedAt: new Date().toISOString(),
    policies: [...new Set(specs.map((s) => s.policy))],
    seeds: [...new Set(specs.map((s) => s.seed))],
    split: splitRecord(specs[0]!.splitConfig, source),
    config: { dbmim: VERSION, ...specs[0]!.splitConfig },
    runs,
    controls,
    ...(failed.length ? { failed } : {}),
  };
  writeFileAtomic(join(opts.outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  const previews = new Map<string, string>();
  const bestPolicy = [...runs]
    .filter((r) => r.policy !== 'scratch')
    .sort((a, b) => a.test.voi_sum - b.test.voi_sum)[0];
  for (const r of [bestPolicy, runs.find((x) => x.policy === 'scratch')]) {
    if (r) previews.set(r.policy, `runs/${runName(r.policy, r.seed)}/segmentation.png`);
  }
  const report = writeReport(opts.outDir, results, previews);
  return { report, results };
}

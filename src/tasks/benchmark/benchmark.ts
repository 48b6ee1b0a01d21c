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
import type { BenchmarkResults, PretrainRecord, RunRecord } from './results.js';
import { learningFreeControl, scoreOnSplit, type HeldOut } from './score-split.js';
import type { AffinityNet } from '../../models/affinity-net.js';
import { ISBI_SPLIT, PRESETS, type BenchPreset } from './presets.js';
import { writeReport } from './report.js';

/*
 * The main job: which masking policy gives the better encoder for neuron segmentation? For every policy
 * and seed: pretrain (same MIM updates and crops for all), finetune the same segmentation recipe from that
 * encoder, predict the validation and test volumes, choose the segmentation parameters on validation,
 * score test; plus a `scratch` control and a learning-free control (smoothed intensity, no training).
 * Each finished run is saved as OUT/runs/<policy>-s<seed>/result.json; a re-run skips finished runs.
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
  /** Progress lines. */
  log?: (line: string) => void;
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

function runName(policy: string, seed: number): string {
  return `${policy}-s${seed}`;
}

/** Pretrain with one policy and collect the curves and diagnostics of the report. */
async function pretrainPolicy(
  config: Config,
  split: DataSplit,
  dir: string,
): Promise<{ setup: PretrainSetup; record: PretrainRecord }> {
  const setup = await buildPretraining(config, { outDir: dir, source: split.train });
  const mimLoss: number[] = [];
  const reward: number[] = [];
  const maskRatio: number[] = [];
  let diagnostics: Record<string, number> = {};
  setup.trainer.events$.subscribe((e) => {
    if (e.type === 'step') {
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

/** One policy x seed: pretrain (unless scratch), finetune, predict, segment, evaluate. */
async function runOne(
  opts: BenchmarkOptions,
  policy: string,
  seed: number,
  split: DataSplit,
): Promise<RunRecord> {
  const config = runConfig(opts, policy, seed);
  const dir = join(opts.outDir, 'runs', runName(policy, seed));
  mkdirSync(dir, { recursive: true });
  const log = opts.log ?? (() => undefined);
  let pre: PretrainRecord | null = null;
  let preview: RunRecord['maskPreview'] = null;
  let setup: PretrainSetup | null = null;
  if (policy !== 'scratch') {
    log(
      `  pretrain ${policy} seed ${seed}: ${config.train.phase1Steps} + ${config.train.phase2Steps} MIM updates`,
    );
    const p = await pretrainPolicy(config, split, join(dir, 'pretrain'));
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
    });
    const net = ft.net!;
    const ev = split.eval!;
    const va = split.valid!;
    try {
      let t = performance.now();
      const { valid: affValid, test: aff } = await predictHeldOut(net, va, ev, config);
      const predictS = (performance.now() - t) / 1000;
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
        // choosing on validation and scoring test: segmentation and evaluation interleave
        segment: { seconds: segmentS },
        evaluate: { seconds: 0 },
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

/** A finished run's record when its result.json matches the config this run would use. */
function finished(opts: BenchmarkOptions, policy: string, seed: number): RunRecord | null {
  const p = join(opts.outDir, 'runs', runName(policy, seed), 'result.json');
  if (!existsSync(p)) return null;
  try {
    const saved = JSON.parse(readFileSync(p, 'utf8')) as { config: unknown; record: RunRecord };
    return JSON.stringify(saved.config) === JSON.stringify(runConfig(opts, policy, seed))
      ? saved.record
      : null;
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

/** Run the benchmark; writes results.json, report.md and figures into `outDir`; returns the report path. */
export async function runBenchmark(
  opts: BenchmarkOptions,
): Promise<{ report: string; results: BenchmarkResults }> {
  const preset = PRESETS[opts.preset];
  if (!preset) throw new ConfigError(`unknown preset '${opts.preset}' (expected quick or full)`);
  const policies = opts.policies ?? preset.policies;
  const seeds = opts.seeds ?? preset.seeds;
  const all = [
    ...policies,
    ...(preset.scratch && !opts.noScratch && !policies.includes('scratch') ? ['scratch'] : []),
  ];
  const log = opts.log ?? (() => undefined);
  mkdirSync(opts.outDir, { recursive: true });
  const first = runConfig(opts, all[0] ?? 'random', seeds[0] ?? 1);
  const split = await loadDataSplit(first);
  if (!split.eval) throw new ConfigError('the benchmark needs a held-out test volume (data.evalZ)');
  if (!split.valid)
    throw new ConfigError(
      'the benchmark needs held-out validation sections to choose segmentation parameters (data.validZ)',
    );
  if (!split.train.labels)
    throw new ConfigError(`the benchmark needs training labels (${first.data.labelsKey})`);
  const runs: RunRecord[] = [];
  const t0 = performance.now();
  let i = 0;
  for (const seed of seeds)
    for (const policy of all) {
      i++;
      const done = finished(opts, policy, seed);
      if (done) {
        log(`[${i}/${all.length * seeds.length}] ${policy} seed ${seed}: finished earlier, skipped`);
        runs.push(done);
        continue;
      }
      log(
        `[${i}/${all.length * seeds.length}] ${policy} seed ${seed} (${((performance.now() - t0) / 1000).toFixed(0)} s elapsed)`,
      );
      const before = tf.memory().numTensors;
      const r = await runOne(opts, policy, seed, split);
      runs.push(r);
      log(
        `  ${policy} seed ${seed}: test VOI sum ${r.test.voi_sum.toFixed(3)}, ARAND ${r.test.arand.toFixed(3)} (seed h ${r.test.seedH}, threshold ${r.test.threshold}, chosen on validation); tensors ${before} -> ${tf.memory().numTensors}`,
      );
    }
  log('learning-free control: smoothed intensity, parameters chosen on validation');
  const control = learningFreeControl(split.valid, split.eval, first);
  log(
    `  learning-free: test VOI sum ${control.test.voi_sum.toFixed(3)}, ARAND ${control.test.arand.toFixed(3)}`,
  );
  const results: BenchmarkResults = {
    format: 'dbmim-benchmark',
    version: 1,
    preset: opts.preset,
    data: split.source,
    backend: activeBackend()?.name ?? 'unknown',
    startedAt: new Date().toISOString(),
    policies: all,
    seeds,
    split: splitRecord(first, split.source),
    config: { dbmim: VERSION, ...runConfig(opts, all[0] ?? 'random', seeds[0] ?? 1) },
    runs,
    controls: [control],
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

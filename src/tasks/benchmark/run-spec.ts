import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../core/config.js';
import type { LabelBudget, Readout } from './presets.js';
import type { RunRecord } from './results.js';

/*
 * One run of a benchmark (a RunSpec: one encoder row and seed, its pretraining once, then every label
 * budget and readout in sequence) and what executing it reports. The types every executor shares (in
 * process, worker processes in jobs.ts, the queue in queue.ts) live here, so none of them imports the
 * benchmark that drives them.
 */

/** One readout at one label budget of a run's encoder. */
export interface EvaluationSpec {
  readout: Readout;
  labelBudget: LabelBudget;
}

/** One run of a benchmark, as a worker executes it (plain JSON: it crosses process boundaries). */
export interface RunSpec {
  /** The row: a policy name, `scratch`, or a control such as `random-long`. */
  policy: string;
  /** The agent that masks during pretraining; null: no pretraining (the `scratch` encoder). */
  pretrainAgent: string | null;
  seed: number;
  /** The run's resolved config (pretraining and the finetuning recipe). */
  config: Config;
  /** The config the data split is loaded from: every run of a benchmark shares its first run's split. */
  splitConfig: Config;
  /** Readouts and label budgets, run in this order on the one pretrained encoder. */
  evaluations: EvaluationSpec[];
  /** Output directory of the run, relative to the root it is executed under (OUT, or a queue's store). */
  dir: string;
  /**
   * Set when a row without pretraining (nothing to share between its evaluations) is split into one
   * run per evaluation, so its parts run in parallel: the evaluation's directory name. The parts share
   * `dir` and write `result-<part>.json`; the benchmark merges their records into one.
   */
  part?: string;
}

/** The parts of a run, in order (progress reports name them). */
export type RunStage = 'pretrain' | 'finetune' | 'predict' | 'segment';

/** Progress callbacks of one run. */
export interface RunHooks {
  log?: (line: string) => void;
  /** Called as the run moves on: the stage and, in stages that have steps, step / total. */
  progress?: (stage: RunStage, step: number, total: number) => void;
}

/** What became of one run: its record, or the error that ended it. */
export type RunOutcome = { record: RunRecord } | { error: string };

/** A run's name and its directory under `runs/`. */
export function runName(policy: string, seed: number): string {
  return `${policy}-s${seed}`;
}

/** A run's name with its part where it is one part of a split run, e.g. `scratch-s1/probe-k16` (logs, progress). */
export function runLabel(spec: RunSpec): string {
  const name = runName(spec.policy, spec.seed);
  return spec.part ? `${name}/${spec.part}` : name;
}

/** An evaluation's output directory name under its run, e.g. `probe-k16`, `finetune-all`. */
export function evaluationDir(e: EvaluationSpec): string {
  return `${e.readout}-${e.labelBudget === 'all' ? 'all' : `k${e.labelBudget}`}`;
}

/** The result file of a run (or of one part of a split run), relative to its directory. */
export function resultFile(spec: RunSpec): string {
  return spec.part ? `result-${spec.part}.json` : 'result.json';
}

/** The files of a finished run, relative to its directory (what a queue copies back). */
export function runFiles(spec: RunSpec): string[] {
  return [resultFile(spec), ...spec.evaluations.map((e) => join(evaluationDir(e), 'segmentation.png'))];
}

/** `k=16` or `all labels`. */
export function budgetName(b: LabelBudget): string {
  return b === 'all' ? 'all labels' : `k=${b}`;
}

/** One line of a finished run's test scores, every readout and budget (for progress logs). */
export function describeRecord(r: RunRecord): string {
  return r.evaluations
    .map(
      (e) =>
        `VOI sum ${e.test.voi_sum.toFixed(3)}, ARAND ${e.test.arand.toFixed(3)} (${e.readout} ${budgetName(e.labelBudget)}, threshold ${e.test.threshold} chosen on validation)`,
    )
    .join('; ');
}

/** A finished run's record when its result file (under `root`) matches `spec`. */
export function finishedRun(spec: RunSpec, root: string): RunRecord | null {
  const p = join(root, spec.dir, resultFile(spec));
  if (!existsSync(p)) return null;
  try {
    const saved = JSON.parse(readFileSync(p, 'utf8')) as { spec: unknown; record: RunRecord };
    const { dir: _dir, ...same } = spec;
    const { dir: _savedDir, ...saidSame } = (saved.spec ?? {}) as RunSpec;
    return JSON.stringify(saidSame) === JSON.stringify(same) ? saved.record : null;
  } catch {
    return null;
  }
}

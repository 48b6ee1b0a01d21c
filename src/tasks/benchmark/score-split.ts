import type { Config } from '../../core/config.js';
import type { LabelVolume, RawVolume } from '../../data/types.js';
import { probabilityLoss } from '../../models/affinity-loss.js';
import { intensityAffinities } from '../eval/intensity-affinities.js';
import { affinityTargets } from '../segmentation/affinity-loss.js';
import { chooseSegmentation, scoreSweep, type SegmentationTask } from '../eval/tune.js';
import type { ControlRecord, EvaluationRecord } from './results.js';

/*
 * How every row of the benchmark is scored, learned or not: segmentation parameters (seed dynamic and
 * agglomeration threshold) are chosen on the validation volume, then the test volume is segmented once
 * with them and scored. The test labels are read only after the choice is made.
 */

/** A held-out volume with its ground truth. */
export interface HeldOut {
  raw: RawVolume;
  labels: LabelVolume;
}

/** What {@link scoreOnSplit} returns: the validation choice, the test result and the test sweep. */
export interface SplitScores {
  validation: EvaluationRecord['validation'];
  test: EvaluationRecord['test'];
  perThreshold: EvaluationRecord['perThreshold'];
  /** Test segmentation at the chosen parameters (for previews). */
  testLabels: Uint32Array;
}

function task(aff: Float32Array, v: HeldOut, config: Config): SegmentationTask {
  return {
    affinities: aff,
    shape: v.raw.shape,
    labels: v.labels.data,
    resolution: v.raw.resolution,
    mode2d: config.eval.mode2d,
    minSize: config.eval.minSize,
    ...(config.eval.borderNm > 0 ? { borderNm: config.eval.borderNm } : {}),
  };
}

/** Choose on validation, then segment and score the test volume once with that choice (and its sweep). */
export function scoreOnSplit(
  valid: { affinities: Float32Array; volume: HeldOut },
  test: { affinities: Float32Array; volume: HeldOut },
  config: Config,
): SplitScores {
  const e = config.eval;
  const { best } = chooseSegmentation(task(valid.affinities, valid.volume, config), {
    seeds: e.seeds,
    seedH: e.seedH,
    thresholds: e.thresholds,
  });
  // the chosen threshold is one of the grid's, so the test sweep over the grid contains it
  const sweep = scoreSweep(
    task(test.affinities, test.volume, config),
    best.seeds,
    best.seedH,
    e.thresholds,
    true,
  );
  const chosen = sweep.find((s) => s.threshold === best.threshold)!;
  const { seeds, seedH, threshold } = best;
  return {
    validation: { seeds, seedH, threshold, scores: best.scores },
    test: { ...chosen.scores, seeds, seedH, threshold },
    perThreshold: sweep.map((s) => ({ threshold: s.threshold, ...s.scores })),
    testLabels: chosen.labels,
  };
}

/**
 * The finetuning objective (the same loss, boundary and channel weights) of predicted affinities
 * `[3, d, h, w]` against a held-out volume's labels: a score of the boundary map itself, before any
 * segmentation choice, with far less spread over seeds than VOI or ARAND of a few sections.
 */
export function heldOutAffinityLoss(affinities: Float32Array, v: HeldOut, config: Config): number {
  const f = config.finetune;
  const { target, weight } = affinityTargets(
    { n: 1, shape: [...v.raw.shape], raw: v.raw.data, labels: v.labels.data },
    { boundaryWeight: f.boundaryWeight, channelWeights: f.channelWeights },
  );
  return probabilityLoss(affinities, target, weight, f.loss);
}

/** The learning-free control row: Gaussian-smoothed intensity as node affinities, same segmentation. */
export function learningFreeControl(valid: HeldOut, test: HeldOut, config: Config): ControlRecord {
  const sigma = config.eval.baselineSigma;
  const aff = (v: HeldOut) => intensityAffinities(v.raw.data, v.raw.shape, { sigma });
  const s = scoreOnSplit(
    { affinities: aff(valid), volume: valid },
    { affinities: aff(test), volume: test },
    config,
  );
  return {
    name: 'learning-free',
    description: `Gaussian-smoothed raw intensity (sigma ${sigma} px in-plane) as node affinities, no learning`,
    validation: s.validation,
    test: s.test,
  };
}

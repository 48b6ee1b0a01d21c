/*
 * Instances and scores on a CREMI-sized volume (30 x 512 x 512): synthetic labels -> their affinities plus
 * gaussian noise (sigma 0.2, clipped to [0, 1]) -> `segment` (xy fragments, 3D agglomeration; and the 2D
 * per-section mode) over three thresholds -> `evaluateSegmentation` (3D, 2D, with a 25 nm border ignore).
 * Typed arrays only (no tfjs). Run alone: `node --import tsx bench/eval.ts`.
 */
import { pathToFileURL } from 'node:url';
import { Rng } from '../src/core/rng.js';
import { labelsToAffinities } from '../src/data/affinities.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';
import { evaluateSegmentation } from '../src/tasks/eval/metrics.js';
import { segment } from '../src/tasks/eval/segment.js';

const SHAPE: Shape3 = [30, 512, 512];
const SIGMA = 0.2; // affinity noise
const THRESHOLDS = [0.3, 0.5, 0.7];
const MIN_SIZE = 20; // voxels

const seconds = (t0: number): number => +((performance.now() - t0) / 1000).toFixed(2);

export async function benchEval(): Promise<object[]> {
  const rows: object[] = [];
  const { labels } = generateSynthetic({ shape: SHAPE, seed: 1 });
  const aff = labelsToAffinities(labels);
  const rng = Rng.fromSeed(3);
  for (let i = 0; i < aff.length; i++) aff[i] = Math.min(1, Math.max(0, aff[i]! + SIGMA * rng.normal()));
  for (const mode2d of [false, true]) {
    let t0 = performance.now();
    const segs = segment(aff, SHAPE, { thresholds: THRESHOLDS, mode2d, minSize: MIN_SIZE });
    const segmentS = seconds(t0);
    const best = segs[1]!; // threshold 0.5
    t0 = performance.now();
    const s = evaluateSegmentation(labels.data, best.labels, { shape: SHAPE, mode2d });
    const evaluateS = seconds(t0);
    t0 = performance.now();
    evaluateSegmentation(labels.data, best.labels, {
      shape: SHAPE,
      mode2d,
      resolution: [40, 4, 4],
      borderNm: 25,
    });
    const borderS = seconds(t0);
    rows.push({
      bench: 'eval',
      shape: SHAPE,
      mode: mode2d ? '2d' : '3d',
      sigma: SIGMA,
      thresholds: THRESHOLDS,
      segmentSeconds: segmentS,
      evaluateSeconds: evaluateS,
      evaluateBorder25nmSeconds: borderS,
      threshold: best.threshold,
      voi_split: +s.voi_split.toFixed(4),
      voi_merge: +s.voi_merge.toFixed(4),
      arand: +s.arand.toFixed(4),
    });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  for (const row of await benchEval()) console.log(JSON.stringify(row));

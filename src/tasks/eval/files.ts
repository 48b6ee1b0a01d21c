import { InputError } from '../../core/errors.js';
import {
  DEFAULT_LABELS_KEY,
  DEFAULT_RESOLUTION,
  inspectFile,
  parseDatasetRef,
  readArray,
  readLabels,
  writeDatasets,
} from '../../data/hdf5.js';
import type { Shape3 } from '../../data/types.js';
import { AFFINITIES_KEY } from '../segmentation/predict.js';
import { evaluateSegmentation, type SegmentationScores } from './metrics.js';
import { segment, type SegmentOptions } from './segment.js';

/** Group holding one segmentation per threshold (`threshold_0.30`, ...). */
export const SEGMENTATION_GROUP = 'volumes/segmentation';
export { AFFINITIES_KEY };

/** Dataset name of a threshold: two decimals, more when the value needs them (0.125 -> threshold_0.125). */
export function thresholdKey(t: number): string {
  let digits = 2;
  while (digits < 8 && Number(t.toFixed(digits)) !== t) digits++;
  return `${SEGMENTATION_GROUP}/threshold_${t.toFixed(digits)}`;
}

/** Read affinities `[3, D, H, W]` as float32 in [0, 1] (uint8 is scaled by 1/255) with their resolution. */
export async function readAffinities(
  ref: string,
): Promise<{ data: Float32Array; shape: Shape3; resolution: Shape3; file: string; key: string }> {
  const { file, key } = parseDatasetRef(ref, AFFINITIES_KEY);
  const a = await readArray(file, key);
  if (a.shape.length !== 4 || a.shape[0] !== 3)
    throw new InputError(
      `affinities ${file}:${key} have shape [${a.shape.join(',')}]; expected [3, D, H, W]`,
    );
  let data: Float32Array;
  if (a.data instanceof Float32Array) data = a.data;
  else if (a.data instanceof Float64Array) data = Float32Array.from(a.data);
  else if (a.data instanceof Uint8Array) data = Float32Array.from(a.data, (v) => v / 255);
  else
    throw new InputError(
      `affinities ${file}:${key} have dtype ${a.dtype}; expected float32, float64 or uint8`,
    );
  return {
    data,
    shape: [a.shape[1]!, a.shape[2]!, a.shape[3]!],
    resolution: a.resolution ?? ([...DEFAULT_RESOLUTION] as Shape3),
    file,
    key,
  };
}

/** Timings (s) and what {@link segmentFile} wrote. */
export interface SegmentFileResult {
  out: string;
  shape: Shape3;
  keys: string[];
  segments: number[];
  readSeconds: number;
  segmentSeconds: number;
  /** CPU time (user + system, s) of the segmentation stage: steadier than wall time on a shared machine. */
  segmentCpuSeconds: number;
  writeSeconds: number;
}

/**
 * Segment an affinity dataset and write one uint32 dataset per threshold under `volumes/segmentation/`
 * (attributes: `threshold`, `thresholds`, `resolution`) to a new file, atomically.
 */
export async function segmentFile(
  affinitiesRef: string,
  out: string,
  opts: SegmentOptions,
): Promise<SegmentFileResult> {
  let t = performance.now();
  const lap = (): number => {
    const now = performance.now();
    const s = (now - t) / 1000;
    t = now;
    return s;
  };
  const aff = await readAffinities(affinitiesRef);
  const readSeconds = lap();
  const cpu0 = process.cpuUsage();
  const segs = segment(aff.data, aff.shape, opts);
  const segmentSeconds = lap();
  const cpu = process.cpuUsage(cpu0);
  const segmentCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const keys = segs.map((s) => thresholdKey(s.threshold));
  if (new Set(keys).size !== keys.length)
    throw new InputError(`segment: thresholds [${opts.thresholds.join(', ')}] repeat a value`);
  await writeDatasets(
    out,
    segs.map((s, i) => ({
      key: keys[i]!,
      data: s.labels,
      shape: [...aff.shape],
      dtype: 'uint32',
      attrs: { threshold: s.threshold, thresholds: [...opts.thresholds] },
    })),
    { resolution: aff.resolution },
  );
  const writeSeconds = lap();
  const segments = segs.map((s) => {
    let max = 0;
    for (let i = 0; i < s.labels.length; i++) if (s.labels[i]! > max) max = s.labels[i]!;
    return max;
  });
  return {
    out,
    shape: aff.shape,
    keys,
    segments,
    readSeconds,
    segmentSeconds,
    segmentCpuSeconds,
    writeSeconds,
  };
}

/** Scores of one predicted dataset; `threshold` when it came from a threshold sweep file. */
export type ScoredDataset = SegmentationScores & { key: string; threshold?: number };

/**
 * Score predictions against ground truth. `predRef` with a key scores that dataset; a bare file scores
 * every dataset under `volumes/segmentation/` (sorted by threshold), else its `volumes/segmentation` or
 * `volumes/labels/neuron_ids` dataset. Shapes must agree (InputError naming both).
 */
export async function evaluateFiles(
  gtRef: string,
  predRef: string,
  opts: { borderNm?: number; mode2d?: boolean } = {},
): Promise<ScoredDataset[]> {
  const g = parseDatasetRef(gtRef, DEFAULT_LABELS_KEY);
  const gt = await readLabels(g.file, g.key);
  const p = parseDatasetRef(predRef, '');
  let keys: string[];
  if (p.key !== '') keys = [p.key];
  else {
    const datasets = (await inspectFile(p.file)).datasets.map((d) => d.path);
    keys = datasets.filter((k) => k.startsWith(`${SEGMENTATION_GROUP}/`));
    if (keys.length === 0) {
      const fallback = [SEGMENTATION_GROUP, DEFAULT_LABELS_KEY].find((k) => datasets.includes(k));
      if (!fallback)
        throw new InputError(
          `${p.file} has no datasets under ${SEGMENTATION_GROUP}/ nor ${DEFAULT_LABELS_KEY}; datasets: ${datasets.join(', ') || '(none)'}`,
        );
      keys = [fallback];
    }
  }
  const rows: ScoredDataset[] = [];
  for (const key of keys) {
    const pred = await readLabels(p.file, key);
    if (pred.shape.some((s, i) => s !== gt.shape[i]))
      throw new InputError(
        `evaluate: gt ${g.file}:${g.key} has shape [${gt.shape.join(',')}] but pred ${p.file}:${key} has shape [${pred.shape.join(',')}]`,
      );
    const scores = evaluateSegmentation(gt.data, pred.data, {
      shape: gt.shape,
      resolution: gt.resolution,
      borderNm: opts.borderNm,
      mode2d: opts.mode2d,
    });
    const m = /threshold_([0-9.eE+-]+)$/.exec(key);
    rows.push(m ? { threshold: Number(m[1]), key, ...scores } : { key, ...scores });
  }
  rows.sort((a, b) => (a.threshold ?? 0) - (b.threshold ?? 0));
  return rows;
}

/** The rows with the lowest voi_sum and the lowest arand (first wins ties). */
export function bestScores(rows: ScoredDataset[]): { best_voi: ScoredDataset; best_arand: ScoredDataset } {
  if (rows.length === 0) throw new InputError('bestScores: no scored datasets');
  let bv = rows[0]!;
  let ba = rows[0]!;
  for (const r of rows) {
    if (r.voi_sum < bv.voi_sum) bv = r;
    if (r.arand < ba.arand) ba = r;
  }
  return { best_voi: bv, best_arand: ba };
}

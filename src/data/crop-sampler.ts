import { InputError } from '../core/errors.js';
import { Rng, type RngState } from '../core/rng.js';
import { augmentCrop, drawAugment, type AugmentOptions } from './augment.js';
import type { Region } from './dataset.js';
import { datasetInfo, readLabels, readRaw } from './hdf5.js';
import type { CropBatch, LabelVolume, RawVolume, Shape3 } from './types.js';

/** A volume to cut crops from (labels, when given, have raw's shape). */
export interface CropSource {
  raw: RawVolume;
  labels?: LabelVolume;
}

/** Whether a volume of `shape` holds a crop of `crop` on every axis. */
export function cropFits(shape: readonly number[], crop: readonly number[]): boolean {
  return crop.every((c, i) => c <= shape[i]!);
}

/** Options of {@link CropSampler}. */
export interface CropSamplerOptions {
  /** Crop extent (z, y, x). */
  crop: Shape3;
  /** Stream for positions and augmentation (split per purpose inside). */
  rng: Rng;
  /** Apply {@link drawAugment} to every crop. Default false. */
  augment?: boolean;
  augmentOptions?: AugmentOptions;
  /** Redraw crops whose raw std is below `minStd` (blank margins, missing sections). Default false. */
  avoidEmpty?: boolean;
  /** Std threshold for `avoidEmpty`. Default 0.02 (intensity units in [0, 1]). */
  minStd?: number;
  /** Draws per crop before accepting a low-std crop anyway. Default 10. */
  maxTries?: number;
  /** Sections [start, end) crops may come from (e.g. the training part). Default: all. */
  zRange?: [number, number];
}

function fmt(a: readonly number[]): string {
  return `[${a.join(',')}]`;
}

/**
 * Random crops of a volume held in memory, optionally augmented. Positions and augmentation draw from
 * separate streams of the given Rng, so turning augmentation on does not move the crops.
 */
export class CropSampler {
  readonly crop: Shape3;
  private readonly raw: RawVolume;
  private readonly labels?: LabelVolume;
  private readonly z0: number;
  private readonly z1: number;
  private posRng: Rng;
  private augRng: Rng;
  private readonly augment: boolean;
  private readonly augmentOptions: AugmentOptions;
  private readonly avoidEmpty: boolean;
  private readonly minStd: number;
  private readonly maxTries: number;

  constructor(source: CropSource, opts: CropSamplerOptions) {
    const { raw, labels } = source;
    const crop = opts.crop;
    const vs = raw.shape;
    if (raw.data.length !== vs[0] * vs[1] * vs[2])
      throw new InputError(`raw volume has ${raw.data.length} values, shape ${fmt(vs)} needs ${vs[0] * vs[1] * vs[2]}`, 'bad-shape');
    if (labels && labels.shape.some((s, i) => s !== vs[i]))
      throw new InputError(`labels shape ${fmt(labels.shape)} differs from raw shape ${fmt(vs)}`, 'shape-mismatch');
    if (crop.length !== 3 || crop.some((c) => !Number.isInteger(c) || c < 1))
      throw new InputError(`crop must be three positive integers, got ${fmt(crop)}`, 'bad-shape');
    const [z0, z1] = opts.zRange ?? [0, vs[0]];
    if (!(Number.isInteger(z0) && Number.isInteger(z1) && z0 >= 0 && z1 <= vs[0] && z0 < z1))
      throw new InputError(`zRange [${z0},${z1}) is outside volume ${fmt(vs)}`, 'bad-region');
    const avail: Shape3 = [z1 - z0, vs[1], vs[2]];
    if (!cropFits(avail, crop))
      throw new InputError(
        `crop ${fmt(crop)} is larger than volume ${fmt(avail)}${opts.zRange ? ` (sections [${z0},${z1}) of ${fmt(vs)})` : ''}`,
        'bad-region',
      );
    this.crop = [...crop];
    this.raw = raw;
    if (labels) this.labels = labels;
    this.z0 = z0;
    this.z1 = z1;
    this.posRng = opts.rng.split('crop-positions');
    this.augRng = opts.rng.split('crop-augment');
    this.augment = opts.augment ?? false;
    this.augmentOptions = opts.augmentOptions ?? {};
    this.avoidEmpty = opts.avoidEmpty ?? false;
    this.minStd = opts.minStd ?? 0.02;
    this.maxTries = opts.maxTries ?? 10;
  }

  /** Volume shape this sampler cuts from. */
  get volumeShape(): Shape3 {
    return [...this.raw.shape];
  }

  /** Voxel size (z, y, x) in nm of the source. */
  get resolution(): Shape3 {
    return [...this.raw.resolution];
  }

  /** Copy the crop at `offset` (z, y, x) out of the source: raw and labels (if any). */
  cropAt(offset: Shape3): { raw: Float32Array; labels?: Uint32Array } {
    const [d, h, w] = this.crop;
    const [, H, W] = this.raw.shape;
    const raw = new Float32Array(d * h * w);
    const labels = this.labels ? new Uint32Array(d * h * w) : undefined;
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        const src = ((offset[0] + z) * H + offset[1] + y) * W + offset[2];
        const dst = (z * h + y) * w;
        raw.set(this.raw.data.subarray(src, src + w), dst);
        if (labels) labels.set(this.labels!.data.subarray(src, src + w), dst);
      }
    }
    return labels ? { raw, labels } : { raw };
  }

  private drawOffset(): Shape3 {
    const [d, h, w] = this.crop;
    const [, H, W] = this.raw.shape;
    return [
      this.z0 + this.posRng.int(this.z1 - this.z0 - d + 1),
      this.posRng.int(H - h + 1),
      this.posRng.int(W - w + 1),
    ];
  }

  /** `n` random crops, struct-of-arrays: raw `[n, d, h, w]`, labels the same when the source has them. */
  sample(n: number): CropBatch {
    const vox = this.crop[0] * this.crop[1] * this.crop[2];
    const raw = new Float32Array(n * vox);
    const labels = this.labels ? new Uint32Array(n * vox) : undefined;
    for (let b = 0; b < n; b++) {
      let c = this.cropAt(this.drawOffset());
      for (let t = 1; this.avoidEmpty && t < this.maxTries && std(c.raw) < this.minStd; t++)
        c = this.cropAt(this.drawOffset());
      if (this.augment) c = augmentCrop(drawAugment(this.augRng, this.crop, this.augmentOptions), c.raw, c.labels, this.crop);
      raw.set(c.raw, b * vox);
      if (labels) labels.set(c.labels!, b * vox);
    }
    return labels ? { n, shape: [...this.crop], raw, labels } : { n, shape: [...this.crop], raw };
  }

  /** Stream states, for exact resume from a checkpoint. */
  getState(): { positions: RngState; augment: RngState } {
    return { positions: this.posRng.getState(), augment: this.augRng.getState() };
  }

  /** Continue from {@link getState}. */
  setState(s: { positions: RngState; augment: RngState }): void {
    this.posRng = Rng.restore(s.positions);
    this.augRng = Rng.restore(s.augment);
  }
}

function std(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const m = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - m) ** 2;
  return Math.sqrt(v / a.length);
}

/**
 * Read a crop source from an HDF5 file: raw (and labels unless `labelsKey` is null), all sections or only
 * `zRange` [start, end) (a region read: other sections are never decompressed). Labels must match raw's shape.
 */
export async function loadCropSource(
  file: string,
  rawKey: string,
  labelsKey: string | null,
  zRange?: [number, number],
): Promise<CropSource> {
  let region: Region | undefined;
  let fullShape: number[] | undefined;
  if (zRange) {
    fullShape = (await datasetInfo(file, rawKey)).shape;
    if (fullShape.length !== 3)
      throw new InputError(
        `dataset ${file}:${rawKey} has shape ${fmt(fullShape)}; expected a 3D volume (z, y, x)`,
        'bad-rank',
      );
    const [a, b] = zRange;
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b <= fullShape[0]! && a < b))
      throw new InputError(
        `sections [${a},${b}) are outside volume ${fmt(fullShape)} of ${file}:${rawKey}`,
        'bad-region',
      );
    region = { offset: [a, 0, 0], size: [b - a, fullShape[1]!, fullShape[2]!] };
  }
  const raw = await readRaw(file, rawKey, region);
  if (labelsKey === null) return { raw };
  if (fullShape) {
    // Compare full shapes first so a mismatch is reported as such, not as a bad region.
    const ls = (await datasetInfo(file, labelsKey)).shape;
    if (ls.length !== 3 || ls.some((s, i) => s !== fullShape![i]))
      throw new InputError(
        `labels ${file}:${labelsKey} have shape ${fmt(ls)}, raw ${file}:${rawKey} has shape ${fmt(fullShape)}`,
        'shape-mismatch',
      );
  }
  const labels = await readLabels(file, labelsKey, region);
  if (labels.shape.some((s, i) => s !== raw.shape[i]))
    throw new InputError(
      `labels ${file}:${labelsKey} have shape ${fmt(labels.shape)}, raw ${file}:${rawKey} has shape ${fmt(raw.shape)}`,
      'shape-mismatch',
    );
  return { raw, labels };
}

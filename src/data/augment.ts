import { Rng } from '../core/rng.js';
import type { Shape3 } from './types.js';
import { valueNoise2D } from './value-noise.js';

/*
 * Standard EM crop augmentation (pytorch_connectomics style): xy flips, xy transpose (the dihedral group
 * of the square, so all 90-degree rotations, only when the crop's y == x), z flip, intensity scale and
 * shift (raw only), additive Gaussian noise of a random strength (raw only; off by default), an
 * optional missing section (raw only), and an optional in-plane elastic deformation (off by default; the
 * U-Net paper's main augmentation for ISBI's few labelled sections). Geometric ops are applied identically
 * to raw and labels. Each crop draws its own plan from the given Rng.
 */

/** Probabilities and ranges of the augmentations (defaults in comments). */
export interface AugmentOptions {
  /** Probability of flipping along x, along y, along z (each independent). Default 0.5. */
  flipProb?: number;
  /** Probability of swapping y and x (only for square crops). Default 0.5. */
  transposeProb?: number;
  /** Flip along z at all (off for data where z order matters). Default true. */
  flipZ?: boolean;
  /** Intensity scale drawn uniformly from [1 - s, 1 + s]. Default 0.1. */
  scaleRange?: number;
  /** Intensity shift drawn uniformly from [-s, s]. Default 0.1. */
  shiftRange?: number;
  /**
   * Additive Gaussian noise (raw only) of standard deviation drawn uniformly from [0, s], so the network
   * sees every noise level up to s. Default 0 (off).
   */
  noiseStd?: number;
  /** Probability that one section of the crop is missing (raw only). Default 0 (off). */
  missingSectionProb?: number;
  /** What a missing section is filled with: the crop's mean or 0. Default 'mean'. */
  missingFill?: 'mean' | 'zero';
  /**
   * Elastic deformation: standard deviation (pixels) of the random displacement at each node of a coarse
   * in-plane grid, interpolated smoothly in between. Default 0 (off).
   */
  elasticStd?: number;
  /** Spacing (pixels) of the elastic deformation's grid: larger = smoother, larger-scale bends. Default 64. */
  elasticSpacing?: number;
}

/** One crop's augmentation, drawn by {@link drawAugment}. */
export interface AugmentPlan {
  flipZ: boolean;
  flipY: boolean;
  flipX: boolean;
  /** Swap y and x (after flips are applied as index maps, see {@link applyGeometry}). */
  transpose: boolean;
  scale: number;
  shift: number;
  /** Standard deviation of the additive Gaussian noise (0 = none). */
  noiseStd: number;
  /** Seed of the noise's own stream (a pure function of the plan, so a plan replays exactly). */
  noiseSeed: number;
  /** Index of the section (in the output crop) that goes missing, or -1. */
  missingSection: number;
  missingFill: 'mean' | 'zero';
  /** Elastic deformation's displacement standard deviation in pixels (0 = none); see {@link applyElastic}. */
  elasticStd: number;
  elasticSpacing: number;
  /** Seed of the displacement field's own stream (so a plan replays exactly). */
  elasticSeed: number;
}

/** The plan that changes nothing. */
export const IDENTITY_PLAN: AugmentPlan = {
  flipZ: false,
  flipY: false,
  flipX: false,
  transpose: false,
  scale: 1,
  shift: 0,
  noiseStd: 0,
  noiseSeed: 0,
  missingSection: -1,
  missingFill: 'mean',
  elasticStd: 0,
  elasticSpacing: 64,
  elasticSeed: 0,
};

/** Draw one crop's plan (a fixed number of draws whatever the options, so streams stay aligned). */
export function drawAugment(rng: Rng, shape: Shape3, opts: AugmentOptions = {}): AugmentPlan {
  const flipProb = opts.flipProb ?? 0.5;
  const transposeProb = opts.transposeProb ?? 0.5;
  const scaleRange = opts.scaleRange ?? 0.1;
  const shiftRange = opts.shiftRange ?? 0.1;
  const missingProb = opts.missingSectionProb ?? 0;
  const noiseStd = opts.noiseStd ?? 0;
  const u = Array.from({ length: 10 }, () => rng.next());
  const noiseSeed = Math.floor(u[9]! * 2 ** 32);
  return {
    flipZ: (opts.flipZ ?? true) && u[0]! < flipProb,
    flipY: u[1]! < flipProb,
    flipX: u[2]! < flipProb,
    transpose: shape[1] === shape[2] && u[3]! < transposeProb,
    scale: 1 + scaleRange * (2 * u[4]! - 1),
    shift: shiftRange * (2 * u[5]! - 1),
    noiseStd: noiseStd * u[8]!,
    noiseSeed,
    missingSection: u[6]! < missingProb ? Math.min(shape[0] - 1, Math.floor(u[7]! * shape[0])) : -1,
    missingFill: opts.missingFill ?? 'mean',
    elasticStd: opts.elasticStd ?? 0,
    elasticSpacing: opts.elasticSpacing ?? 64,
    // Derived from the noise seed, not a new draw: enabling the deformation leaves every other draw in place.
    elasticSeed: (noiseSeed ^ 0x5bd1e995) >>> 0,
  };
}

/**
 * Apply the geometric part of a plan to one crop `[d, h, w]` of any element type; returns a new array.
 * out[z, y, x] = in[z', y', x'] with z' = flipZ ? d-1-z : z, and (y', x') the flipped, then possibly
 * transposed in-plane index. Raw and labels given the same plan stay aligned voxel for voxel.
 */
export function applyGeometry<T extends Float32Array | Uint32Array | Uint8Array>(
  plan: AugmentPlan,
  src: T,
  shape: Shape3,
): T {
  const [d, h, w] = shape;
  if (!plan.flipZ && !plan.flipY && !plan.flipX && !plan.transpose) return src.slice() as T;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let z = 0; z < d; z++) {
    const sz = plan.flipZ ? d - 1 - z : z;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // Output (y, x) reads input (a, b): transpose swaps the roles, flips reverse an axis.
        let a = plan.transpose ? x : y;
        let b = plan.transpose ? y : x;
        if (plan.flipY) a = h - 1 - a;
        if (plan.flipX) b = w - 1 - b;
        out[(z * h + y) * w + x] = src[(sz * h + a) * w + b]!;
      }
    }
  }
  return out;
}

/**
 * Apply the intensity part of a plan to raw in place: scale, shift, noise, clamp to [0, 1], missing
 * section.
 */
export function applyIntensity(plan: AugmentPlan, raw: Float32Array, shape: Shape3): void {
  const noise = plan.noiseStd > 0 ? Rng.fromSeed(plan.noiseSeed) : null;
  if (noise || plan.scale !== 1 || plan.shift !== 0) {
    for (let i = 0; i < raw.length; i++) {
      let v = raw[i]! * plan.scale + plan.shift;
      if (noise) v += plan.noiseStd * noise.normal();
      raw[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  if (plan.missingSection >= 0) {
    const sec = shape[1] * shape[2];
    let fill = 0;
    if (plan.missingFill === 'mean') {
      let s = 0;
      for (let i = 0; i < raw.length; i++) s += raw[i]!;
      fill = s / raw.length;
    }
    raw.fill(fill, plan.missingSection * sec, (plan.missingSection + 1) * sec);
  }
}

/**
 * The plan's displacement field: for every in-plane voxel (y, x) of a crop, where it reads from
 * (y + dy, x + dx). Each component is smooth value noise on a lattice of spacing `elasticSpacing`, scaled
 * so that lattice points have standard deviation `elasticStd` (uniform values: std 1/sqrt(3) before
 * scaling); neighbouring voxels move together, so membranes bend without tearing. Returns [dy, dx].
 */
export function elasticField(plan: AugmentPlan, h: number, w: number): [Float32Array, Float32Array] {
  const rng = Rng.fromSeed(plan.elasticSeed);
  const rand = () => rng.next();
  const scale = plan.elasticStd * Math.sqrt(3);
  const [dy, dx] = [valueNoise2D(h, w, plan.elasticSpacing, rand), valueNoise2D(h, w, plan.elasticSpacing, rand)];
  for (let i = 0; i < dy.length; i++) {
    dy[i] = dy[i]! * scale;
    dx[i] = dx[i]! * scale;
  }
  return [dy, dx];
}

/**
 * Apply the plan's elastic deformation to one crop `[d, h, w]` (the same field on every section, so the
 * crop's sections stay aligned with each other); returns a new array. Raw is sampled bilinearly, labels
 * by nearest voxel (ids are never averaged); reads past the crop's edge take the edge voxel. `field` is
 * the plan's {@link elasticField}, passed in where raw and labels share it (computed here otherwise).
 */
export function applyElastic<T extends Float32Array | Uint32Array>(
  plan: AugmentPlan,
  src: T,
  shape: Shape3,
  field?: [Float32Array, Float32Array],
): T {
  if (plan.elasticStd <= 0) return src;
  const [d, h, w] = shape;
  const [dy, dx] = field ?? elasticField(plan, h, w);
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const nearest = !(src instanceof Float32Array);
  const clampY = (v: number) => (v < 0 ? 0 : v > h - 1 ? h - 1 : v);
  const clampX = (v: number) => (v < 0 ? 0 : v > w - 1 ? w - 1 : v);
  for (let z = 0; z < d; z++) {
    const base = z * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const sy = clampY(y + dy[i]!);
        const sx = clampX(x + dx[i]!);
        if (nearest) {
          out[base + i] = src[base + Math.round(sy) * w + Math.round(sx)]!;
          continue;
        }
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const y1 = Math.min(y0 + 1, h - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const fy = sy - y0;
        const fx = sx - x0;
        out[base + i] =
          (1 - fy) * ((1 - fx) * src[base + y0 * w + x0]! + fx * src[base + y0 * w + x1]!) +
          fy * ((1 - fx) * src[base + y1 * w + x0]! + fx * src[base + y1 * w + x1]!);
      }
    }
  }
  return out;
}

/** Augment one crop: geometry (and elastic deformation) on raw and labels, intensity on raw. Returns new arrays. */
export function augmentCrop(
  plan: AugmentPlan,
  raw: Float32Array,
  labels: Uint32Array | undefined,
  shape: Shape3,
): { raw: Float32Array; labels?: Uint32Array } {
  // one displacement field for raw and labels
  const field = plan.elasticStd > 0 ? elasticField(plan, shape[1], shape[2]) : undefined;
  const r = applyElastic(plan, applyGeometry(plan, raw, shape), shape, field);
  applyIntensity(plan, r, shape);
  if (!labels) return { raw: r };
  return { raw: r, labels: applyElastic(plan, applyGeometry(plan, labels, shape), shape, field) };
}

import { gaussianSmooth } from '../../data/gaussian-smooth.js';
import type { Shape3 } from '../../data/types.js';

/*
 * The learning-free control of the benchmark: EM membranes are dark, so the Gaussian-smoothed raw
 * intensity is already a boundary detector. As node affinities (the affinity of two neighbours is the
 * smaller of their smoothed intensities, so an edge touching a membrane is weak) it goes through exactly
 * the segmentation a learned network's affinities go through. Every learned row must beat it.
 */

/** Options of {@link intensityAffinities}. */
export interface IntensityAffinityOptions {
  /** Gaussian sigma in pixels, in-plane (y, x); 0 = no smoothing. */
  sigma?: number; // default 1
  /** Also smooth along z with this sigma in sections (0 = per section, right for 50 nm sections). */
  sigmaZ?: number; // default 0
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/**
 * Node affinities `[3, D, H, W]` from raw intensity in [0, 1]: s = smoothed raw, affinity of voxel v
 * with its -1 neighbour along each axis = min(s[v], s[neighbour]) (0 on the first plane of the axis).
 */
export function intensityAffinities(
  raw: Float32Array,
  shape: Shape3,
  opts: IntensityAffinityOptions = {},
): Float32Array {
  const s = gaussianSmooth(raw, shape, opts.sigma ?? 1, opts.sigmaZ ?? 0);
  const [d, h, w] = shape;
  const n = d * h * w;
  const hw = h * w;
  const aff = new Float32Array(3 * n);
  for (let v = 0; v < n; v++) {
    const z = Math.floor(v / hw);
    const y = Math.floor((v - z * hw) / w);
    const x = v - z * hw - y * w;
    if (z > 0) aff[v] = clamp01(Math.min(s[v]!, s[v - hw]!));
    if (y > 0) aff[n + v] = clamp01(Math.min(s[v]!, s[v - w]!));
    if (x > 0) aff[2 * n + v] = clamp01(Math.min(s[v]!, s[v - 1]!));
  }
  return aff;
}

import type { Shape3 } from '../../data/types.js';
import { agglomerate, type ThresholdSegmentation } from './agglomerate.js';
import { watershed, type WatershedOptions } from './watershed.js';

/** Options of {@link segment}: the watershed options plus the agglomeration sweep. */
export interface SegmentOptions extends WatershedOptions {
  /** Mean-affinity merge thresholds; one segmentation per threshold (lower = more merging). */
  thresholds: number[];
  /**
   * Per-section (ISBI) mode: each z section is segmented on its own from the y/x affinities only;
   * ids are unique over the whole stack.
   */
  mode2d?: boolean; // default false
  /**
   * Where fragments are grown (3D mode only): 'xy' runs the watershed per section and lets the 3D
   * agglomeration join fragments across sections by their mean z affinity (the usual choice for
   * anisotropic EM, funlib's `fragments_in_xy`: one noisy z edge cannot leak a seed into the next
   * object); '3d' runs the watershed on the whole 6-neighbourhood.
   */
  fragments?: 'xy' | '3d'; // default 'xy'
  /** Segments under this many voxels merge into their strongest neighbour (0 = off). */
  minSize?: number; // default 0
}

/**
 * Instances from affinities `[3, D, H, W]` (channel 0 = z, 1 = y, 2 = x; affinity with the -1 neighbour):
 * seeded watershed fragments (per section by default), then mean-affinity agglomeration swept over
 * `thresholds` in one pass (in 3D unless `mode2d`).
 * @returns one `{threshold, labels}` per threshold, in the order given; labels `[D, H, W]` uint32, ids from 1.
 */
export function segment(
  affinities: Float32Array,
  shape: Shape3,
  opts: SegmentOptions,
): ThresholdSegmentation[] {
  const xy = opts.mode2d === true || (opts.fragments ?? 'xy') === 'xy';
  const fragments = watershed(affinities, shape, { ...opts, mode2d: xy });
  return agglomerate(fragments.labels, affinities, shape, {
    thresholds: opts.thresholds,
    mode2d: opts.mode2d,
    minSize: opts.minSize,
  });
}

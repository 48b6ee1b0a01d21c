/*
 * Layout of one patch agent's observation row in MaskingEnv (heuristic policies read the tail):
 *   [ patch embedding (embedDim) | z, y, x position in [0, 1] | patch mean | patch std | membrane proxy ]
 * The membrane proxy is the patch's mean absolute intensity gradient divided by the crop's mean of it.
 */

/** Features after the embedding. */
export const OBS_TAIL = 6;

/** Index of each tail feature counted from the end of the row (obsDim - k). */
export const OBS_FROM_END = { z: 6, y: 5, x: 4, mean: 3, std: 2, membrane: 1 } as const;

/** A tail feature of the observation row. */
export type ObsFeature = keyof typeof OBS_FROM_END;

/** Observation width for a given embedding width. */
export function obsDimFor(embedDim: number): number {
  return embedDim + OBS_TAIL;
}

/** Read a tail feature of row `row` from a `[rows, obsDim]` array. */
export function obsFeature(obs: Float32Array, obsDim: number, row: number, f: ObsFeature): number {
  return obs[row * obsDim + obsDim - OBS_FROM_END[f]]!;
}

/** Write a tail feature of row `row` of a `[rows, obsDim]` array (the one writer of the layout). */
export function setObsFeature(
  obs: Float32Array,
  obsDim: number,
  row: number,
  f: ObsFeature,
  value: number,
): void {
  obs[row * obsDim + obsDim - OBS_FROM_END[f]] = value;
}

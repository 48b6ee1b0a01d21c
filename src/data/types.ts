/** (z, y, x) extents or voxel sizes. */
export type Shape3 = [number, number, number];

/**
 * A dense 3D volume in C order (z slowest, x fastest). `resolution` is the voxel size in nm (z, y, x).
 * Raw EM in memory is float32 in [0, 1] (uint8 / 255, uint16 / 65535; float32 as stored).
 * Labels in memory are uint32 (uint64 files are relabelled if any id needs more than 32 bits).
 */
export interface Volume<T extends Float32Array | Uint32Array | Uint8Array = Float32Array> {
  data: T;
  shape: Shape3;
  resolution: Shape3;
}

/** Raw EM: float32 in [0, 1]. */
export type RawVolume = Volume<Float32Array>;
/** Instance labels: uint32, 0 = unlabelled (ignored when scoring). */
export type LabelVolume = Volume<Uint32Array>;

/** A batch of crops, struct-of-arrays: raw `[n, d, h, w]` float32, labels the same shape when known. */
export interface CropBatch {
  n: number;
  shape: Shape3;
  raw: Float32Array;
  labels?: Uint32Array;
}

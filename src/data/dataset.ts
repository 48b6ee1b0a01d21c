import type { Shape3 } from './types.js';

/*
 * What every dataset reader (HDF5 in hdf5.ts, Zarr in zarr.ts) returns and takes: arrays in their native
 * dtype, dataset descriptions, regions. A module of its own so the two readers share it without importing
 * each other in a circle (hdf5.ts dispatches Zarr paths to zarr.ts).
 */

/** A box inside a 3D volume: start `offset` and extent `size`, both (z, y, x). */
export interface Region {
  offset: Shape3;
  size: Shape3;
}

/** Typed arrays h5wasm returns for numeric datasets. */
export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** An array read from a dataset in its native dtype. */
export interface ArrayData {
  data: NumericArray;
  shape: number[];
  /** Dtype name: uint8, uint16, uint32, uint64, int8, int16, int32, int64, float32, float64. */
  dtype: string;
  /** The `resolution` attribute of the dataset (or of the nearest group above it), if any. */
  resolution: Shape3 | null;
}

/** Dataset description as listed by {@link inspectFile}. */
export interface DatasetInfo {
  path: string;
  shape: number[];
  dtype: string;
  chunks: number[] | null;
  resolution: number[] | null;
}

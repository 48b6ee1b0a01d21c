import { InputError } from '../core/errors.js';
import type { CropBatch, LabelVolume, Shape3 } from './types.js';

/*
 * Nearest-neighbour affinities (the segmentation target) and boundary maps from labels.
 * Affinity channel c in (0 = z, 1 = y, 2 = x) at voxel v is 1 when v and its neighbour at -1 along that
 * axis share a non-zero id, else 0; the first slice along each axis has no neighbour and gets 0.
 */

function checkLabels(shape: Shape3, total: number): void {
  const n = shape[0] * shape[1] * shape[2];
  if (n !== total)
    throw new InputError(`labels have ${total} values, shape [${shape.join(',')}] needs ${n}`, 'bad-shape');
}

/** Affinities of one `[d, h, w]` label array at `offset` into `out` at `outOffset` (`[3, d, h, w]`). */
function affinitiesInto(
  labels: Uint32Array,
  offset: number,
  shape: Shape3,
  out: Float32Array,
  outOffset: number,
): void {
  const [d, h, w] = shape;
  const n = d * h * w;
  // Strides of the neighbour at -1 along z, y, x.
  const strides = [h * w, w, 1];
  for (let z = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (z * h + y) * w + x;
        const id = labels[offset + i]!;
        if (id === 0) continue; // out is zero-initialized
        const pos = [z, y, x];
        for (let c = 0; c < 3; c++) {
          if (pos[c]! === 0) continue;
          if (labels[offset + i - strides[c]!] === id) out[outOffset + c * n + i] = 1;
        }
      }
    }
  }
}

/** Affinities `[3, D, H, W]` (z, y, x) of a label volume. */
export function labelsToAffinities(labels: LabelVolume): Float32Array {
  const [d, h, w] = labels.shape;
  checkLabels(labels.shape, labels.data.length);
  const out = new Float32Array(3 * d * h * w);
  affinitiesInto(labels.data, 0, labels.shape, out, 0);
  return out;
}

/** Affinities `[n, 3, d, h, w]` of every crop of a batch; an InputError if the batch has no labels. */
export function batchAffinities(batch: CropBatch): Float32Array {
  if (!batch.labels) throw new InputError('crop batch has no labels; affinities need labels', 'no-labels');
  const vox = batch.shape[0] * batch.shape[1] * batch.shape[2];
  checkLabels([batch.n * batch.shape[0], batch.shape[1], batch.shape[2]], batch.labels.length);
  const out = new Float32Array(batch.n * 3 * vox);
  for (let b = 0; b < batch.n; b++) affinitiesInto(batch.labels, b * vox, batch.shape, out, b * 3 * vox);
  return out;
}

/**
 * Boundary map `[d, h, w]` of one label array at `offset`: 1 where the voxel is 0 or one of its in-plane
 * 4-neighbours (or, with `threeD`, its 6-neighbours) has a different id.
 */
function boundaryInto(
  labels: Uint32Array,
  offset: number,
  shape: Shape3,
  threeD: boolean,
  out: Uint8Array,
  outOffset: number,
): void {
  const [d, h, w] = shape;
  const hw = h * w;
  for (let z = 0; z < d; z++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (z * h + y) * w + x;
        const id = labels[offset + i]!;
        const o = offset + i;
        const edge =
          id === 0 ||
          (x > 0 && labels[o - 1] !== id) ||
          (x + 1 < w && labels[o + 1] !== id) ||
          (y > 0 && labels[o - w] !== id) ||
          (y + 1 < h && labels[o + w] !== id) ||
          (threeD && ((z > 0 && labels[o - hw] !== id) || (z + 1 < d && labels[o + hw] !== id)));
        out[outOffset + i] = edge ? 1 : 0;
      }
    }
  }
}

/** Boundary map `[D, H, W]` (uint8 0/1) of a label volume; in-plane 4-neighbourhood unless `threeD`. */
export function labelsToBoundary(labels: LabelVolume, opts: { threeD?: boolean } = {}): Uint8Array {
  checkLabels(labels.shape, labels.data.length);
  const out = new Uint8Array(labels.shape[0] * labels.shape[1] * labels.shape[2]);
  boundaryInto(labels.data, 0, labels.shape, opts.threeD ?? false, out, 0);
  return out;
}

/** Boundary maps `[n, d, h, w]` of every crop of a batch. */
export function batchBoundary(batch: CropBatch, opts: { threeD?: boolean } = {}): Uint8Array {
  if (!batch.labels) throw new InputError('crop batch has no labels; a boundary map needs labels', 'no-labels');
  const vox = batch.shape[0] * batch.shape[1] * batch.shape[2];
  checkLabels([batch.n * batch.shape[0], batch.shape[1], batch.shape[2]], batch.labels.length);
  const out = new Uint8Array(batch.n * vox);
  for (let b = 0; b < batch.n; b++) boundaryInto(batch.labels, b * vox, batch.shape, opts.threeD ?? false, out, b * vox);
  return out;
}

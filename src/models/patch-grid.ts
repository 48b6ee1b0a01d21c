import { InputError } from '../core/errors.js';
import type { Shape3 } from '../data/types.js';

/*
 * The patch grid of a crop: patches of `patch` voxels (z, y, x) tile a crop of `crop` voxels; patches are
 * numbered z slowest, x fastest, and voxels inside a patch in C order (pz, py, px). Patchify runs in plain
 * JS on the Float32Array (one pass, cheaper than a 7-D tensor transpose in wasm).
 */

/** Geometry of a crop cut into patches. */
export class PatchGrid {
  readonly grid: Shape3;
  readonly numPatches: number;
  /** Voxels per patch. */
  readonly patchVoxels: number;
  /** Voxels per crop. */
  readonly cropVoxels: number;

  constructor(
    readonly crop: Shape3,
    readonly patch: Shape3,
  ) {
    for (let i = 0; i < 3; i++) {
      if (!(crop[i]! > 0 && patch[i]! > 0 && crop[i]! % patch[i]! === 0))
        throw new InputError(`crop [${crop}] is not a positive multiple of patch [${patch}]`);
    }
    this.grid = [crop[0] / patch[0], crop[1] / patch[1], crop[2] / patch[2]];
    this.numPatches = this.grid[0] * this.grid[1] * this.grid[2];
    this.patchVoxels = patch[0] * patch[1] * patch[2];
    this.cropVoxels = crop[0] * crop[1] * crop[2];
  }

  /** Check a raw batch `[batch, d, h, w]`; the message names the expected and actual sizes. */
  checkRaw(raw: Float32Array, batch: number, what = 'raw'): void {
    if (!Number.isInteger(batch) || batch < 1) throw new InputError(`${what}: batch ${batch} must be >= 1`);
    if (raw.length !== batch * this.cropVoxels)
      throw new InputError(
        `${what}: ${raw.length} values, expected batch ${batch} x crop [${this.crop}] = ${batch * this.cropVoxels}`,
      );
  }

  /** Check a mask `[batch * numPatches]`. */
  checkMask(mask: Uint8Array, batch: number): void {
    if (mask.length !== batch * this.numPatches)
      throw new InputError(
        `mask: ${mask.length} values, expected batch ${batch} x ${this.numPatches} patches (grid [${this.grid}])`,
      );
  }

  /** Normalized patch-center position (z, y, x in [0, 1]) of patch index `p`. */
  position(p: number): Shape3 {
    const [gz, gy, gx] = this.grid;
    const z = Math.floor(p / (gy * gx));
    const y = Math.floor(p / gx) % gy;
    const x = p % gx;
    return [gz > 1 ? z / (gz - 1) : 0.5, gy > 1 ? y / (gy - 1) : 0.5, gx > 1 ? x / (gx - 1) : 0.5];
  }

  /**
   * Copy patch `p` of sample `b` of `raw` into `out` at `offset` (patchVoxels values).
   * raw is `[batch, d, h, w]`.
   */
  readPatch(raw: Float32Array, b: number, p: number, out: Float32Array, offset: number): void {
    const [, h, w] = this.crop;
    const [pd, ph, pw] = this.patch;
    const [, gy, gx] = this.grid;
    const z0 = Math.floor(p / (gy * gx)) * pd;
    const y0 = (Math.floor(p / gx) % gy) * ph;
    const x0 = (p % gx) * pw;
    const base = b * this.cropVoxels;
    let o = offset;
    for (let z = 0; z < pd; z++) {
      for (let y = 0; y < ph; y++) {
        const row = base + ((z0 + z) * h + y0 + y) * w + x0;
        for (let x = 0; x < pw; x++) out[o++] = raw[row + x]!;
      }
    }
  }

  /** All patches: `[batch, d, h, w] -> [batch * numPatches, patchVoxels]`. */
  patchify(raw: Float32Array, batch: number): Float32Array {
    this.checkRaw(raw, batch);
    const out = new Float32Array(batch * this.numPatches * this.patchVoxels);
    for (let b = 0; b < batch; b++)
      for (let p = 0; p < this.numPatches; p++)
        this.readPatch(raw, b, p, out, (b * this.numPatches + p) * this.patchVoxels);
    return out;
  }

  /** Inverse of {@link patchify}: `[batch * numPatches, patchVoxels] -> [batch, d, h, w]`. */
  unpatchify(patches: Float32Array, batch: number): Float32Array {
    if (patches.length !== batch * this.numPatches * this.patchVoxels)
      throw new InputError(
        `unpatchify: ${patches.length} values, expected ${batch} x ${this.numPatches} x ${this.patchVoxels}`,
      );
    const out = new Float32Array(batch * this.cropVoxels);
    const [, h, w] = this.crop;
    const [pd, ph, pw] = this.patch;
    const [, gy, gx] = this.grid;
    let o = 0;
    for (let b = 0; b < batch; b++) {
      for (let p = 0; p < this.numPatches; p++) {
        const z0 = Math.floor(p / (gy * gx)) * pd;
        const y0 = (Math.floor(p / gx) % gy) * ph;
        const x0 = (p % gx) * pw;
        for (let z = 0; z < pd; z++)
          for (let y = 0; y < ph; y++) {
            const row = b * this.cropVoxels + ((z0 + z) * h + y0 + y) * w + x0;
            for (let x = 0; x < pw; x++) out[row + x] = patches[o++]!;
          }
      }
    }
    return out;
  }
}

import * as tf from '@tensorflow/tfjs';
import { Rng } from '../src/core/rng.js';
import type { CropBatch, Shape3 } from '../src/data/types.js';
import type { MimModelLike, MimStepResult, NamedTensor } from '../src/models/types.js';
import type { CropSourceLike } from '../src/env/crop-source.js';

/*
 * Test doubles of the masking env's collaborators: a MIM model whose losses are functions we choose (so
 * reward terms can be checked by hand) and a seeded crop source.
 */

/** A fake MIM model on crops [4, 8, 8] with patches [2, 4, 4]: grid [2, 2, 2], 8 patches, embedDim 3. */
export class FakeMim implements MimModelLike {
  readonly crop: Shape3 = [4, 8, 8];
  readonly patch: Shape3 = [2, 4, 4];
  readonly grid: Shape3 = [2, 2, 2];
  readonly numPatches = 8;
  readonly embedDim = 3;
  step = 0;
  evaluateCalls = 0;
  encodeCalls = 0;
  disposed = false;
  /** Masks seen by trainStep. */
  readonly masks: Uint8Array[] = [];

  constructor(
    /** Loss of patch `p` (index within its crop) at global step `step` when masked. */
    readonly lossOf: (p: number, step: number) => number = (p) => 0.1 * (p + 1),
    /** Held-out loss at global step `step`. */
    readonly heldOutLoss: (step: number) => number = (s) => 1 / (1 + s),
  ) {}

  trainStep(_raw: Float32Array, batch: number, mask: Uint8Array): MimStepResult {
    const r = this.lossAt(batch, mask);
    this.masks.push(Uint8Array.from(mask));
    this.step++;
    return r;
  }

  evaluate(_raw: Float32Array, _batch: number, mask: Uint8Array): MimStepResult {
    this.evaluateCalls++;
    let m = 0;
    for (const v of mask) m += v;
    return {
      loss: this.heldOutLoss(this.step),
      perPatchLoss: new Float32Array(mask.length),
      maskRatio: m / mask.length,
    };
  }

  private lossAt(batch: number, mask: Uint8Array): MimStepResult {
    const per = new Float32Array(batch * this.numPatches);
    let s = 0;
    let c = 0;
    for (let i = 0; i < per.length; i++) {
      if (!mask[i]) continue;
      per[i] = this.lossOf(i % this.numPatches, this.step);
      s += per[i]!;
      c++;
    }
    return { loss: c ? s / c : 0, perPatchLoss: per, maskRatio: c / per.length };
  }

  /** Per patch: [patch mean * (1 + step), patch index / 8, 1]. */
  embedPatches(raw: Float32Array, batch: number): tf.Tensor3D {
    const np = this.numPatches;
    const out = new Float32Array(batch * np * 3);
    const means = this.patchMeans(raw, batch);
    for (let r = 0; r < batch * np; r++) {
      out[r * 3] = means[r]! * (1 + this.step);
      out[r * 3 + 1] = (r % np) / np;
      out[r * 3 + 2] = 1;
    }
    return tf.tensor3d(out, [batch, np, 3]);
  }

  /** Per patch: [patch mean, 0, 0]. */
  encode(raw: Float32Array, batch: number): tf.Tensor3D {
    this.encodeCalls++;
    const np = this.numPatches;
    const out = new Float32Array(batch * np * 3);
    const means = this.patchMeans(raw, batch);
    for (let r = 0; r < batch * np; r++) out[r * 3] = means[r]!;
    return tf.tensor3d(out, [batch, np, 3]);
  }

  patchMeans(raw: Float32Array, batch: number): Float32Array {
    const [d, h, w] = this.crop;
    const m = new Float32Array(batch * this.numPatches);
    for (let b = 0; b < batch; b++)
      for (let z = 0; z < d; z++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const p = (Math.floor(z / 2) * 2 + Math.floor(y / 4)) * 2 + Math.floor(x / 4);
            m[b * 8 + p]! += raw[b * d * h * w + (z * h + y) * w + x]! / 32;
          }
    return m;
  }

  namedWeights(): NamedTensor[] {
    return [];
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** Seeded random crops of a fixed shape (uniform noise), optionally with random labels; reseedable. */
export class FakeCrops implements CropSourceLike {
  private rng: Rng;
  constructor(
    readonly shape: Shape3 = [4, 8, 8],
    seed: number | string = 0,
    readonly withLabels = false,
  ) {
    this.rng = Rng.fromSeed(seed);
  }
  reseed(seed: number | string): void {
    this.rng = Rng.fromSeed(seed);
  }
  sample(n: number): CropBatch {
    const vox = this.shape[0] * this.shape[1] * this.shape[2];
    const raw = Float32Array.from({ length: n * vox }, () => this.rng.next());
    if (!this.withLabels) return { n, shape: [...this.shape], raw };
    const labels = Uint32Array.from({ length: n * vox }, () => 1 + this.rng.int(3));
    return { n, shape: [...this.shape], raw, labels };
  }
}

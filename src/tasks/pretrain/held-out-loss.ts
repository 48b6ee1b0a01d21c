import { InputError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { CropSampler, cropFits } from '../../data/crop-sampler.js';
import { randomMasks } from '../../env/mask-budget.js';
import type { CropBatch, RawVolume, Shape3 } from '../../data/types.js';
import { normalizePatches } from '../../models/mim-targets.js';
import { PatchGrid } from '../../models/patch-grid.js';
import type { MimModelLike } from '../../models/types.js';

/*
 * The held-out MIM loss: how well the model reconstructs masked patches of sections it never trains on
 * (the validation sections). The crops and their mask are drawn once from a fixed seed, the same for every
 * policy and run seed, so curves compare across policies and the numbers change only when the weights do.
 * The loss is the plain voxel MSE of masked patches against the per-patch-normalized target (no membrane,
 * structure or HOG weighting), reported with the loss of predicting every patch's mean (the target is
 * normalized per patch, so that baseline is just under 1; the ratio is what compares across patch shapes).
 */

/** Seed of the held-out crops and mask (fixed: independent of the run seed and the policy). */
const HELD_OUT_SEED = 'held-out-mim';

/** One measurement of the held-out MIM loss. */
export interface HeldOutLoss {
  /** Mean voxel MSE over the masked patches. */
  loss: number;
  /** The same for a prediction of each patch's mean (per-patch normalized targets: just under 1). */
  baseline: number;
  /** loss / baseline (below 1: better than the per-patch mean). */
  ratio: number;
}

/** What {@link HeldOutMimLoss} draws its crops from and how many. */
export interface HeldOutMimLossOptions {
  /** The held-out volume (the validation sections). */
  volume: RawVolume;
  /** Crops drawn once (model crop shape, no augmentation). */
  crops: number;
  /** Fraction of each crop's patches masked (the env's target ratio). */
  maskRatio: number;
}

/** Fixed crops of a held-out volume under a fixed mask, scored by the model without an update. */
export class HeldOutMimLoss {
  readonly crops: CropBatch;
  /** `[crops * numPatches]`, 1 = masked. */
  readonly mask: Uint8Array;
  private readonly baseline: number;

  constructor(crop: Shape3, patch: Shape3, opts: HeldOutMimLossOptions) {
    if (!(Number.isInteger(opts.crops) && opts.crops >= 1))
      throw new InputError(`held-out MIM loss: crops ${opts.crops} must be an integer >= 1`);
    const grid = new PatchGrid(crop, patch);
    if (grid.numPatches < 2)
      throw new InputError(
        `held-out MIM loss: crop [${crop}] has ${grid.numPatches} patch of [${patch}]; need 2 or more`,
      );
    const vs = opts.volume.shape;
    if (!HeldOutMimLoss.fits(opts.volume, crop))
      throw new InputError(
        `held-out MIM loss: crop [${crop}] does not fit the held-out volume [${vs}] (set data.validZ to ` +
          `at least ${crop[0]} sections, or train.heldOutEvery 0)`,
      );
    const root = Rng.fromSeed(HELD_OUT_SEED);
    this.crops = new CropSampler({ raw: opts.volume }, { crop, rng: root.split('crops') }).sample(opts.crops);
    const np = grid.numPatches;
    const k = Math.min(np - 1, Math.max(1, Math.round(opts.maskRatio * np)));
    this.mask = randomMasks(opts.crops, np, k, root.split('mask'));
    this.baseline = meanPatchBaseline(grid, this.crops, this.mask);
  }

  /** Whether `volume` holds a crop of shape `crop`. */
  static fits(volume: RawVolume, crop: Shape3): boolean {
    return cropFits(volume.shape, crop);
  }

  /** The held-out loss of `model` now (no gradient, no update; tensors disposed by the model). */
  measure(model: MimModelLike): HeldOutLoss {
    const { perPatchLoss } = model.evaluate(this.crops.raw, this.crops.n, this.mask);
    let sum = 0;
    let masked = 0;
    for (let i = 0; i < this.mask.length; i++)
      if (this.mask[i]) {
        sum += perPatchLoss[i]!;
        masked++;
      }
    const loss = sum / masked;
    return { loss, baseline: this.baseline, ratio: loss / this.baseline };
  }
}

/** Mean voxel MSE of predicting 0 (each patch's mean) for the normalized targets of the masked patches. */
function meanPatchBaseline(grid: PatchGrid, crops: CropBatch, mask: Uint8Array): number {
  const pv = grid.patchVoxels;
  const rows = crops.n * grid.numPatches;
  const target = normalizePatches(grid.patchify(crops.raw, crops.n), rows, pv);
  let sum = 0;
  let masked = 0;
  for (let r = 0; r < rows; r++) {
    if (!mask[r]) continue;
    let s = 0;
    for (let i = r * pv; i < (r + 1) * pv; i++) s += target[i]! ** 2;
    sum += s / pv;
    masked++;
  }
  return sum / masked;
}

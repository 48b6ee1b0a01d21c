import type { DependencyContainer } from 'tsyringe';
import type { Config } from '../core/config.js';
import { Rng } from '../core/rng.js';
import type { CropSourceLike } from '../env/crop-source.js';
import { MaskingEnv } from '../env/masking-env.js';
import { MimModel } from '../models/mim-model.js';
import type { MimModelLike } from '../models/types.js';
import { trainingCrops } from './data-split.js';

/*
 * A MaskingEnv from a config. It lives in tasks, not env, because its default data is the run's data
 * split (tasks/data-split.ts), the one place that turns `config.data` into volumes.
 */

/** Options of {@link createMaskingEnv}; everything not given is built from the config. */
export interface CreateMaskingEnvOptions {
  model?: MimModelLike;
  cropSource?: CropSourceLike;
  heldOutSource?: CropSourceLike;
  rng?: Rng;
  rewardTerms?: Record<string, number>;
  container?: DependencyContainer;
}

/**
 * Build a MaskingEnv from a full config: the real MIM model (`MimModel(config.model, config.optim)`,
 * cosine schedule over phase1Steps + phase2Steps updates) and crops of the config's training volume
 * (the data split's `train`: the volume `dbmim finetune` and the benchmark train on) unless given.
 */
export async function createMaskingEnv(
  config: Config,
  opts: CreateMaskingEnvOptions = {},
): Promise<MaskingEnv> {
  const rng = opts.rng ?? Rng.fromSeed(config.seed);
  const cropSource = opts.cropSource ?? (await trainingCrops(config, rng.split('crops')));
  const totalSteps = Math.max(1, config.train.phase1Steps + config.train.phase2Steps);
  const model = opts.model ?? new MimModel(config.model, config.optim, rng.split('model'), { totalSteps });
  try {
    return new MaskingEnv({
      model,
      cropSource,
      ...(opts.heldOutSource ? { heldOutSource: opts.heldOutSource } : {}),
      config: { env: config.env, reward: config.reward },
      rng: rng.split('env'),
      ...(opts.rewardTerms ? { rewardTerms: opts.rewardTerms } : {}),
      ...(opts.container ? { container: opts.container } : {}),
      ownsModel: !opts.model,
    });
  } catch (e) {
    if (!opts.model) model.dispose();
    throw e;
  }
}

import type { DependencyContainer } from 'tsyringe';
import type { Config } from '../../core/config.js';
import { createRunContainer } from '../../core/container.js';
import { Rng } from '../../core/rng.js';
import { TOKENS } from '../../core/tokens.js';
import { CropSampler, type CropSource } from '../../data/crop-sampler.js';
import { MimModel } from '../../models/mim-model.js';
import { createMaskingEnv, type MaskingEnv } from '../../env/masking-env.js';
import type { Agent } from '../../agents/agent.js';
import { createAgent } from '../../agents/index.js';
import { loadDataSplit } from '../data-split.js';
import { PretrainTrainer, type TrainerOptions } from './trainer.js';

/*
 * Wiring of a pretraining run, through the DI container: the run container holds the config and root
 * RNG; the crop source, MIM model, env and agent are registered under tokens as they are built (so a
 * user can pre-register any of them), and the trained encoder is published under
 * TOKENS.PretrainedEncoder for the segmentation task.
 */

/** Tokens of the pieces of a pretraining run (beside the library-wide ones in core/tokens.ts). */
export const PRETRAIN_TOKENS = {
  MimModel: 'dbmim:pretrain:mim-model',
  Env: 'dbmim:pretrain:env',
  Agent: 'dbmim:pretrain:agent',
  Trainer: 'dbmim:pretrain:trainer',
} as const;

/** A pretraining run assembled by {@link buildPretraining}: its container and the pieces resolved from it. */
export interface PretrainSetup {
  container: DependencyContainer;
  model: MimModel;
  env: MaskingEnv;
  agent: Agent;
  trainer: PretrainTrainer;
  /** Release tensors of model, env and agent. */
  dispose(): void;
}

function resolveOr<T>(c: DependencyContainer, token: string, make: () => T): T {
  if (c.isRegistered(token)) return c.resolve<T>(token);
  const v = make();
  c.register(token, { useValue: v });
  return v;
}

/**
 * Build a pretraining run from a config. `source` overrides the config's data (e.g. a benchmark that
 * loaded the volume once); `container` lets the caller pre-register pieces.
 */
export async function buildPretraining(
  config: Config,
  opts: TrainerOptions & { source?: CropSource; container?: DependencyContainer },
): Promise<PretrainSetup> {
  const c = opts.container ?? createRunContainer(config);
  if (!c.isRegistered(TOKENS.Config)) c.register(TOKENS.Config, { useValue: config });
  const root = Rng.fromSeed(config.seed);
  const source = opts.source ?? (await loadDataSplit(config, { needLabels: false })).train;
  const crops = resolveOr(
    c,
    TOKENS.CropSource as string,
    () =>
      new CropSampler(source, {
        crop: config.model.crop,
        rng: root.split('crops'),
        augment: config.data.augment,
      }),
  );
  const totalSteps = Math.max(1, config.train.phase1Steps + config.train.phase2Steps);
  const model = resolveOr(
    c,
    PRETRAIN_TOKENS.MimModel,
    () => new MimModel(config.model, config.optim, root.split('model'), { totalSteps }),
  );
  const env = await createMaskingEnv(config, { model, cropSource: crops, rng: root });
  c.register(PRETRAIN_TOKENS.Env, { useValue: env });
  const agent = resolveOr(c, PRETRAIN_TOKENS.Agent, () =>
    createAgent(config.agent.name, {
      obsDim: env.obsDim,
      stateDim: env.stateDim,
      numAgents: env.numAgents,
      numEnvs: env.numEnvs,
      config,
      rng: root.split('agent'),
    }),
  );
  const trainer = new PretrainTrainer(
    config,
    env,
    agent,
    { save: (d) => model.save(d), load: async (d) => void (await model.load(d)) },
    opts,
  );
  c.register(PRETRAIN_TOKENS.Trainer, { useValue: trainer });
  return {
    container: c,
    model,
    env,
    agent,
    trainer,
    dispose() {
      agent.dispose();
      env.close();
      model.dispose();
    },
  };
}

/** Publish the trained encoder for the segmentation task (see segmentation/encoder-source.ts). */
export function publishEncoder(setup: PretrainSetup): void {
  setup.container.register(TOKENS.PretrainedEncoder, {
    useValue: { weights: setup.model.encoderWeights(), model: setup.model.config },
  });
}

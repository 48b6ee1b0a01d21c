import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { Config } from '../../core/config.js';
import { createRunContainer } from '../../core/container.js';
import { Rng } from '../../core/rng.js';
import { TOKENS } from '../../core/tokens.js';
import type { CropSource } from '../../data/crop-sampler.js';
import { MimModel } from '../../models/mim-model.js';
import type { MaskingEnv } from '../../env/masking-env.js';
import { createMaskingEnv } from '../create-masking-env.js';
import type { Agent } from '../../agents/agent.js';
import { createAgent } from '../../agents/index.js';
import { loadDataSplit, trainingCrops } from '../data-split.js';
import type { RawVolume } from '../../data/types.js';
import { HeldOutMimLoss } from './held-out-loss.js';
import { containerEncoderSink } from './encoder-sink.js';
import { PRETRAIN_TOKENS } from './tokens.js';
import { PretrainTrainer, type TrainerOptions } from './trainer.js';

/*
 * A pretraining run, assembled by the DI container (docs/architecture.md, "Dependency injection"). The
 * run container holds the config and the root RNG; each piece (crop source, MIM model, env with its
 * reward terms, agent, encoder sink, trainer) is resolved from it in that order, and its default is
 * registered only where the caller registered nothing. So a user replaces one piece by registering it
 * (a value, or a factory that resolves the pieces before it) in the container passed as `opts.container`.
 */

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

/** Options of {@link buildPretraining}. */
export interface BuildPretrainingOptions extends TrainerOptions {
  /** The training volume (e.g. a benchmark that loaded it once); default: the config's data split. */
  source?: CropSource;
  /**
   * The held-out volume of the held-out MIM loss (`train.heldOutEvery`): the data split's validation
   * sections. Default: the config's data split's when `source` is not given, none when it is; null: none.
   */
  valid?: RawVolume | null;
  /** The run container, with any piece the caller replaces already registered; default: a new one. */
  container?: DependencyContainer;
}

/** What is registered under `token` in `c`, after registering `make()` there if nothing was. */
async function resolveOrDefault<T>(
  c: DependencyContainer,
  token: InjectionToken<T>,
  make: () => T | Promise<T>,
): Promise<T> {
  if (!c.isRegistered(token, true)) c.register<T>(token, { useValue: await make() });
  return c.resolve<T>(token);
}

/**
 * The training source and held-out volume of a run: the caller's, else the config's data split (loaded
 * whole only when the held-out loss needs its validation sections).
 */
async function pretrainingData(
  cfg: Config,
  opts: BuildPretrainingOptions,
): Promise<{ train: CropSource | undefined; valid: RawVolume | null }> {
  if (opts.source || opts.valid !== undefined || cfg.train.heldOutEvery === 0)
    return { train: opts.source, valid: opts.valid ?? null };
  const split = await loadDataSplit(cfg, { needLabels: false });
  return { train: split.train, valid: split.valid?.raw ?? null };
}

/**
 * Assemble a pretraining run from a config: every piece is resolved from the run container, with the
 * library's default where the caller registered none. The trainer hands its encoder to the encoder sink
 * when its run ends (default: `TOKENS.PretrainedEncoder` in the run container).
 */
export async function buildPretraining(
  config: Config,
  opts: BuildPretrainingOptions,
): Promise<PretrainSetup> {
  const c = opts.container ?? createRunContainer(config);
  const cfg = await resolveOrDefault(c, TOKENS.Config, () => config);
  const root = await resolveOrDefault(c, TOKENS.Rng, () => Rng.fromSeed(cfg.seed));
  const data = await pretrainingData(cfg, opts);
  const crops = await resolveOrDefault(c, PRETRAIN_TOKENS.CropSource, () =>
    trainingCrops(cfg, root.split('crops'), data.train),
  );
  const totalSteps = Math.max(1, cfg.train.phase1Steps + cfg.train.phase2Steps);
  const model = await resolveOrDefault(
    c,
    PRETRAIN_TOKENS.MimModel,
    () => new MimModel(cfg.model, cfg.optim, root.split('model'), { totalSteps }),
  );
  const env = await resolveOrDefault(c, PRETRAIN_TOKENS.Env, () =>
    createMaskingEnv(cfg, { model, cropSource: crops, rng: root, container: c }),
  );
  const agent = await resolveOrDefault(c, PRETRAIN_TOKENS.Agent, () =>
    createAgent(
      cfg.agent.name,
      {
        obsDim: env.obsDim,
        stateDim: env.stateDim,
        numAgents: env.numAgents,
        numEnvs: env.numEnvs,
        config: cfg,
        rng: root.split('agent'),
      },
      c,
    ),
  );
  const sink = await resolveOrDefault(c, PRETRAIN_TOKENS.EncoderSink, () => containerEncoderSink(c));
  const trainer = await resolveOrDefault(
    c,
    PRETRAIN_TOKENS.Trainer,
    () =>
      new PretrainTrainer(
        cfg,
        env,
        agent,
        { save: (d) => model.save(d), load: async (d) => void (await model.load(d)) },
        opts,
        { sink, encoder: () => ({ weights: model.encoderWeights(), model: model.config }) },
        data.valid && cfg.train.heldOutEvery > 0 && HeldOutMimLoss.fits(data.valid, env.model.crop)
          ? {
              loss: new HeldOutMimLoss(env.model.crop, env.model.patch, {
                volume: data.valid,
                crops: cfg.train.heldOutCrops,
                maskRatio: cfg.env.targetRatio,
              }),
              model: env.model,
            }
          : undefined,
      ),
  );
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

/**
 * Hand the run's encoder to its encoder sink now. The trainer already does so when its run ends; this is
 * for a run that was not run to its end (e.g. only restored from a checkpoint).
 */
export function publishEncoder(setup: PretrainSetup): void {
  setup.container
    .resolve(PRETRAIN_TOKENS.EncoderSink)
    .publish({ weights: setup.model.encoderWeights(), model: setup.model.config });
}

import type { InjectionToken } from 'tsyringe';
import type { Agent } from '../../agents/agent.js';
import type { CropSourceLike } from '../../env/crop-source.js';
import type { MaskingEnv } from '../../env/masking-env.js';
import type { MimModel } from '../../models/mim-model.js';
import type { EncoderSink } from './encoder-sink.js';
import type { PretrainTrainer } from './trainer.js';

/*
 * The pieces of a pretraining run, each under a DI token. `buildPretraining` resolves every one from the
 * run container and registers its default only where the caller registered nothing, so a user replaces
 * one piece by registering it first (docs/architecture.md, "Dependency injection").
 */

/** Tokens of the pieces of a pretraining run. */
export const PRETRAIN_TOKENS = {
  /** The crop source the env draws training crops from. */
  CropSource: 'dbmim:pretrain:crop-source' as InjectionToken<CropSourceLike>,
  /** The MIM model the env trains. */
  MimModel: 'dbmim:pretrain:mim-model' as InjectionToken<MimModel>,
  /** The masking env (its reward terms are resolved from the same container). */
  Env: 'dbmim:pretrain:env' as InjectionToken<MaskingEnv>,
  /** The masking policy. */
  Agent: 'dbmim:pretrain:agent' as InjectionToken<Agent>,
  /** Where the trained encoder goes when the run ends. */
  EncoderSink: 'dbmim:pretrain:encoder-sink' as InjectionToken<EncoderSink>,
  /** The trainer. */
  Trainer: 'dbmim:pretrain:trainer' as InjectionToken<PretrainTrainer>,
} as const;

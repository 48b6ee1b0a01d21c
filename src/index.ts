/**
 * dbmim: masked-image-modeling pretraining on EM volumes as a multi-agent RL environment.
 *
 * The public API, a curated list grouped by what a user does with it: data, env, agents, models,
 * segmentation and evaluation, benchmark, plugins, core. Everything else under `src/` is internal and may
 * change. Importing this module registers the built-in agents and reward terms. The rooms behind these
 * groups and how they fit together: docs/architecture.md.
 * @packageDocumentation
 */
import 'reflect-metadata';
// registers the built-in agents (reward terms register on first use)
import './agents/index.js';

// ---- data: volumes, synthetic EM, crops, affinities ----
export type { Shape3, Volume, RawVolume, LabelVolume, CropBatch } from './data/types.js';
export type { DatasetInfo, Region } from './data/dataset.js';
export {
  DEFAULT_LABELS_KEY,
  DEFAULT_RAW_KEY,
  datasetInfo,
  inspectFile,
  parseDatasetRef,
  readLabels,
  readRaw,
  writeCremi,
} from './data/hdf5.js';
export { generateSynthetic, type SyntheticOptions, type SyntheticVolume } from './data/synthetic.js';
export {
  CropSampler,
  loadCropSource,
  type CropSamplerOptions,
  type CropSource,
} from './data/crop-sampler.js';
export { labelsToAffinities } from './data/affinities.js';
export {
  loadDataSplit,
  loadTrainSource,
  trainingCrops,
  type DataSplit,
  type LoadDataOptions,
} from './tasks/data-split.js';

// ---- env: spaces, the parallel multi-agent env, MaskingEnv, reward terms, wrappers, protocol ----
export { Box, Discrete, MultiBinary, type Space } from './env/spaces.js';
export type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from './env/parallel-env.js';
export { MaskingEnv, type MaskingEnvOptions, type MaskingStepInfo } from './env/masking-env.js';
export { createMaskingEnv, type CreateMaskingEnvOptions } from './tasks/create-masking-env.js';
export type { CropSourceLike } from './env/crop-source.js';
export {
  perEnv,
  shared,
  type RewardContext,
  type RewardFactory,
  type RewardFn,
  type RewardSetup,
  type RewardTerm,
} from './env/rewards/types.js';
export { registerReward, registerRewardFactory, registeredRewards } from './env/rewards/registry.js';
export { bernoulliKl, bernoulliLogRatio } from './env/rewards/kl.js';
export { probeTargets } from './env/rewards/membrane-proxy.js';
export {
  checkEnv,
  assertEnv,
  ENV_CHECKS,
  type CheckResult,
  type CheckEnvOptions,
} from './env/env-checker.js';
export { VectorEnv } from './env/vector-env.js';
export { DictParallelEnv } from './env/dict-adapter.js';
export { ParallelEnvWrapper } from './env/wrappers/wrapper.js';
export { NormalizeReward } from './env/wrappers/normalize-reward.js';
export { RecordEpisodeStatistics } from './env/wrappers/episode-statistics.js';
export { ScoreMaskEnv, TeamMaskEnv } from './env/toy-envs.js';
export { serveEnv } from './env/protocol/server.js';
export { EnvServerClient } from './env/protocol/client.js';
export { PROTOCOL_VERSION } from './env/protocol/frame.js';

// ---- agents: the Agent contract, the registry, PPO (IPPO, MAPPO), heuristic policies, stepping ----
export type { ActInput, ActOutput, Agent, Transition, UpdateStats } from './agents/agent.js';
export {
  createAgent,
  registerAgent,
  registeredAgents,
  type AgentContext,
  type AgentFactory,
} from './agents/registry.js';
export { BUILTIN_AGENTS } from './agents/builtins.js';
export { PpoAgent } from './agents/ppo/ppo-agent.js';
export { createIppo } from './agents/ippo.js';
export { createMappo } from './agents/mappo.js';
export { HeuristicAgent } from './agents/heuristics/heuristic-agent.js';
export { RandomMaskAgent } from './agents/heuristics/random.js';
export { EdgeMaskAgent } from './agents/heuristics/edge.js';
export { MixedMaskAgent } from './agents/heuristics/mixed.js';
export { BlockMaskAgent } from './agents/heuristics/block.js';
export {
  runPolicy,
  trainOnEnv,
  type PolicyStepRecord,
  type TrainLoopOptions,
  type TrainLoopResult,
} from './agents/train-loop.js';
export { envSteps, type EnvStep, type StepLoopOptions } from './agents/step-loop.js';
export { actInputOf, stepEnded, transitionOf } from './agents/env-io.js';

// ---- models: the MIM model, encoder, decision module, checkpoints ----
export { MimModel, type MimModelOptions } from './models/mim-model.js';
export type { MimModelLike, MimStepResult } from './models/types.js';
export { VitEncoder, type VitEncoderConfig } from './models/vit-encoder.js';
export { DecisionModule } from './models/decision-module.js';
export {
  AffinityNet,
  AFFINITY_IN_PLANE_CHANNELS,
  type AffinityNetOptions,
  type InputNorm,
  type TokenFusion,
  type AffinityStepResult,
} from './models/affinity-net.js';
export { InPlaneUNet } from './models/affinity-unet.js';
export { affinityLoss, probabilityLoss, type AffinityLossKind } from './models/affinity-loss.js';
export {
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type CheckpointTensor,
} from './models/checkpoint.js';
export { readSafetensors, writeSafetensors } from './models/safetensors.js';

// ---- pretraining: the trainer and its DI assembly ----
export {
  buildPretraining,
  publishEncoder,
  type BuildPretrainingOptions,
  type PretrainSetup,
} from './tasks/pretrain/build.js';
export { PRETRAIN_TOKENS } from './tasks/pretrain/tokens.js';
export {
  HeldOutMimLoss,
  type HeldOutLoss,
  type HeldOutMimLossOptions,
} from './tasks/pretrain/held-out-loss.js';
export {
  containerEncoderSink,
  type EncoderSink,
  type TrainedEncoder,
} from './tasks/pretrain/encoder-sink.js';
export {
  PretrainTrainer,
  type EncoderHandoff,
  type ModelIO,
  type TrainerOptions,
  type TrainerResult,
} from './tasks/pretrain/trainer.js';
export { loadEncoder, embedRegion } from './tasks/embed.js';

// ---- segmentation and evaluation ----
export {
  finetune,
  type FinetuneOptions,
  type FinetuneResult,
  type LabelledVolume,
} from './tasks/segmentation/finetune.js';
export { predictAffinities, type PredictOptions } from './tasks/segmentation/predict.js';
export { slidingWindowPredict } from './tasks/segmentation/sliding-window.js';
export { testTimeAugmented, SQUARE_SYMMETRIES } from './tasks/segmentation/test-time-augment.js';
export { encoderFromDir, type EncoderWeights } from './tasks/segmentation/encoder-source.js';
export {
  agglomerate,
  adaptedRand,
  chooseSegmentation,
  evaluateSegmentation,
  segment,
  variationOfInformation,
  watershed,
  type SegmentOptions,
  type SegmentationScores,
} from './tasks/eval/index.js';
export { intensityAffinities } from './tasks/eval/intensity-affinities.js';
export { evaluateFiles, segmentFile } from './tasks/eval/files.js';

// ---- benchmark: which masking policy gives the better encoder ----
export { runBenchmark, type BenchmarkOptions } from './tasks/benchmark/benchmark.js';
export {
  PRESETS,
  PRESET_NAMES,
  type BenchPreset,
  type LabelBudget,
  type Readout,
} from './tasks/benchmark/presets.js';
export type {
  BenchmarkResults,
  ComparisonRecord,
  EvaluationRecord,
  RunRecord,
} from './tasks/benchmark/results.js';
export { pairedDifference, type PairedDifference } from './tasks/benchmark/paired-stats.js';

// ---- plugins: agents and reward terms from outside the library ----
export { loadPlugins, type PluginInfo } from './tasks/plugins.js';

// ---- core: config, seeded RNG, backend, DI, events, errors, atomic files ----
export { VERSION } from './version.js';
export {
  BackendError,
  CheckpointError,
  ConfigError,
  DbmimError,
  InputError,
  ProtocolError,
} from './core/errors.js';
export { Rng, type RngState } from './core/rng.js';
export { activeBackend, selectBackend, BACKEND_ENV, type BackendInfo } from './core/backend.js';
export {
  applyOverrides,
  loadConfig,
  resolveConfig,
  MODEL_PRESETS,
  type AgentConfig,
  type Config,
  type ConfigInput,
  type DataConfig,
  type EnvConfig,
  type EvalConfig,
  type FinetuneConfig,
  type ModelConfig,
  type OptimConfig,
  type PpoConfig,
  type RewardConfig,
  type TrainConfig,
} from './core/config.js';
export { TOKENS } from './core/tokens.js';
export { createRunContainer } from './core/container.js';
export type {
  CheckpointEvent,
  DoneEvent,
  EpisodeEvent,
  HeldOutEvent,
  PhaseEvent,
  StepEvent,
  TrainEvent,
  UpdateEvent,
  WarningEvent,
} from './core/events.js';
export { writeDirAtomic, writeFileAtomic } from './core/fs.js';

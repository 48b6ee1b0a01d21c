/**
 * dbmim: masked-image-modeling pretraining on EM volumes as a multi-agent RL environment.
 * The public API, room by room (core -> data -> models -> env -> agents -> tasks). Importing it
 * registers the built-in agents and reward terms.
 * @packageDocumentation
 */
import 'reflect-metadata';

export { VERSION } from './version.js';
// core
export * from './core/errors.js';
export * from './core/rng.js';
export * from './core/backend.js';
export * from './core/config.js';
export * from './core/tokens.js';
export * from './core/container.js';
export * from './core/events.js';
export * from './core/fs.js';
// data
export * from './data/types.js';
export * from './data/hdf5.js';
export * from './data/zarr.js';
export * from './data/synthetic.js';
export * from './data/crop-sampler.js';
export * from './data/augment.js';
export * from './data/affinities.js';
export * from './data/membrane.js';
// models
export * from './models/types.js';
export * from './models/checkpoint.js';
export * from './models/safetensors.js';
export * from './models/torch-layout.js';
export * from './models/params.js';
export * from './models/dense.js';
export * from './models/layer-norm.js';
export * from './models/gelu.js';
export * from './models/attention.js';
export * from './models/mlp.js';
export * from './models/transformer-block.js';
export * from './models/patch-grid.js';
export * from './models/pos-embed.js';
export * from './models/select-rows.js';
export * from './models/vit-encoder.js';
export * from './models/mim-targets.js';
export * from './models/mim-model.js';
export * from './models/schedule.js';
export * from './models/adamw.js';
export * from './models/conv3d.js';
export * from './models/affinity-net.js';
export * from './models/decision-module.js';
// env
export * from './env/spaces.js';
export * from './env/parallel-env.js';
export * from './env/observation-layout.js';
export * from './env/mask-budget.js';
export * from './env/crop-source.js';
export * from './env/masking-env.js';
export * from './env/membrane-probe.js';
export * from './env/rewards/types.js';
export * from './env/rewards/registry.js';
export { bernoulliKl, bernoulliLogRatio } from './env/rewards/kl.js';
export { probeTargets } from './env/rewards/membrane-proxy.js';
export * from './env/dict-adapter.js';
export * from './env/vector-env.js';
export * from './env/env-checker.js';
export * from './env/wrappers/wrapper.js';
export * from './env/wrappers/normalize-reward.js';
export * from './env/wrappers/episode-statistics.js';
export * from './env/toy-envs.js';
export * from './env/protocol/frame.js';
export * from './env/protocol/messages.js';
export * from './env/protocol/server.js';
export * from './env/protocol/client.js';
// agents (registers the built-ins)
export * from './agents/index.js';
// tasks
export * from './tasks/data-split.js';
export * from './tasks/embed.js';
export * from './tasks/pretrain/trainer.js';
export * from './tasks/pretrain/diagnostics.js';
export * from './tasks/pretrain/build.js';
export { loadPlugins, type PluginInfo } from './tasks/plugins.js';
export * from './tasks/segmentation/sliding-window.js';
export * from './tasks/segmentation/encoder-source.js';
export * from './tasks/segmentation/affinity-loss.js';
export * from './tasks/segmentation/finetune.js';
export * from './tasks/segmentation/predict.js';
export * from './tasks/eval/index.js';
export * from './tasks/eval/files.js';
export * from './tasks/benchmark/results.js';
export * from './tasks/benchmark/presets.js';
export * from './tasks/benchmark/benchmark.js';
export * from './tasks/benchmark/report.js';
export * from './tasks/report/png.js';
export * from './tasks/report/svg.js';

/**
 * dbmim: masked-image-modeling pretraining on EM volumes as a multi-agent RL environment.
 * The public API, room by room (core -> data -> models -> env -> agents -> tasks).
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
// models
export * from './models/types.js';
export * from './models/checkpoint.js';
// env
export * from './env/spaces.js';
export * from './env/parallel-env.js';
// agents
export * from './agents/agent.js';

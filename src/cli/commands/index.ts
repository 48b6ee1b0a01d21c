import type { Command } from 'commander';
import { register as info } from './info.js';
import { register as data } from './data.js';
import { register as synth } from './synth.js';
import { register as checkEnv } from './check-env.js';
import { register as rollout } from './rollout.js';
import { register as pretrain } from './pretrain.js';
import { register as bench } from './bench.js';
import { register as finetune } from './finetune.js';
import { register as predict } from './predict.js';
import { register as segment } from './segment.js';
import { register as evaluate } from './evaluate.js';
import { register as exportModel } from './export.js';
import { register as embed } from './embed.js';
import { register as envServer } from './env-server.js';
import { register as worker } from './worker.js';

/** Every command module registers itself here (one line each). */
export const COMMANDS: ((program: Command) => void)[] = [
  info,
  data,
  synth,
  checkEnv,
  rollout,
  pretrain,
  bench,
  finetune,
  predict,
  segment,
  evaluate,
  exportModel,
  embed,
  envServer,
  worker,
];

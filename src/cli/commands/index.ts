import type { Command } from 'commander';
import { register as info } from './info.js';
import { register as data } from './data.js';
import { register as synth } from './synth.js';

/** Every command module registers itself here (one line each). */
export const COMMANDS: ((program: Command) => void)[] = [info, data, synth];

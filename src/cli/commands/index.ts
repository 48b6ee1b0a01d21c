import type { Command } from 'commander';
import { register as info } from './info.js';

/** Every command module registers itself here (one line each). */
export const COMMANDS: ((program: Command) => void)[] = [info];

import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { DbmimError } from '../core/errors.js';
import { VERSION } from '../version.js';
import { COMMANDS } from './commands/index.js';

/** Build the `dbmim` program (exposed for tests). */
export function buildProgram(): Command {
  const program = new Command('dbmim')
    .description('masked-image-modeling pretraining on EM volumes as a multi-agent RL environment')
    .version(VERSION)
    .option('--backend <name>', 'tfjs backend: auto, tensorflow, wasm, cpu (env DBMIM_BACKEND)')
    .option('--verbose', 'print stack traces of errors')
    .option('-q, --quiet', 'print less')
    .showHelpAfterError()
    .exitOverride();
  for (const reg of COMMANDS) reg(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code. Known errors print one line (no stack unless --verbose). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
        ? 0
        : e.exitCode || 2;
    }
    if (verbose) console.error(e);
    else if (e instanceof DbmimError || e instanceof Error) console.error(`error: ${e.message}`);
    else console.error(`error: ${String(e)}`);
    return 1;
  }
}

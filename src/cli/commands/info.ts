import type { Command } from 'commander';
import { useBackend, type GlobalOptions } from '../context.js';
import { VERSION } from '../../version.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('print the dbmim version, the active tfjs backend and its flags, and the Node version')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const b = await useBackend(g, false);
      const info = {
        dbmim: VERSION,
        backend: b.name,
        package: b.package,
        flags: b.flags,
        node: process.version,
      };
      if (opts.json) console.log(JSON.stringify(info));
      else {
        console.log(`dbmim ${VERSION}`);
        console.log(`backend: ${b.name} (${b.package})`);
        console.log(
          `flags: ${Object.entries(b.flags)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        );
        console.log(`node: ${process.version}`);
      }
    });
}

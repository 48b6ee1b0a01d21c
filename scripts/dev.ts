// Run the CLI from the TypeScript sources (no build): `node --import tsx scripts/dev.ts <command> ...`.
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv);

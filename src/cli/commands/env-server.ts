import type { Command } from 'commander';
import { createMaskingEnv } from '../../tasks/create-masking-env.js';
import { PROTOCOL_VERSION } from '../../env/protocol/frame.js';
import { DEFAULT_FRAME_TIMEOUT_MS, serveEnv } from '../../env/protocol/server.js';
import { VERSION } from '../../version.js';
import { parseNumber, useBackend, type GlobalOptions } from '../context.js';
import { runConfig, withRunConfig, type RunConfigOptions } from '../run-config.js';

interface EnvServerOptions extends RunConfigOptions {
  frameTimeoutMs: string;
}

export function register(program: Command): void {
  withRunConfig(
    program
      .command('env-server')
      .description(
        `serve one MaskingEnv (env.numEnvs crops per step) over stdin/stdout with the binary env protocol ` +
          `v${PROTOCOL_VERSION} (docs/env-protocol.md), e.g. for the Python PettingZoo adapter. ` +
          'Takes the config options of `dbmim rollout`; logs go to stderr only',
      )
      .option(
        '--frame-timeout-ms <ms>',
        'a request frame begun but not finished within this time is a fatal error',
        String(DEFAULT_FRAME_TIMEOUT_MS),
      ),
  ).action(async (opts: EnvServerOptions, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const frameTimeoutMs = parseNumber(opts.frameTimeoutMs, '--frame-timeout-ms', 1, 2 ** 31 - 1, true);
    const config = runConfig(opts);
    // stdout carries frames only: anything the library logs goes to stderr.
    const log = console.log;
    console.log = console.error;
    try {
      await useBackend(g);
      const env = await createMaskingEnv(config);
      process.exitCode = await serveEnv(env, process.stdin, process.stdout, {
        hello: {
          server: `dbmim ${VERSION}`,
          horizon: env.horizon,
          rewardTerms: env.rewardTermNames,
          config,
        },
        frameTimeoutMs,
        log: (line) => console.error(line),
      });
    } finally {
      console.log = log;
      process.stdin.destroy();
    }
  });
}

import type { Command } from 'commander';
import { checkEnv } from '../../env/env-checker.js';
import { createMaskingEnv } from '../../tasks/create-masking-env.js';
import { useBackend, type GlobalOptions } from '../context.js';
import { usePlugins, withPluginOption } from '../plugins.js';
import { runConfig, withRunConfig, type RunConfigOptions } from '../run-config.js';

export function register(program: Command): void {
  withRunConfig(
    withPluginOption(
      program
        .command('check-env')
        .description(
          'run the env checker on MaskingEnv (real MIM model, config data or a synthetic volume): spaces, ' +
            'reset determinism, step shapes and dtypes, finite rewards, done flags, horizon, close. ' +
            'Prints one line per check; exits 1 if any fails',
        ),
    ),
  ).action(async (opts: RunConfigOptions & { plugin?: string[] }, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const config = runConfig(opts);
    await useBackend(g);
    await usePlugins(opts.plugin, g.quiet);
    const env = await createMaskingEnv(config);
    if (!g.quiet)
      console.error(
        `MaskingEnv: ${env.numEnvs} envs x ${env.numAgents} patch agents, obsDim ${env.obsDim}, ` +
          `stateDim ${env.stateDim}, horizon ${env.horizon}, reward terms ${env.rewardTermNames.join(', ')}`,
      );
    const results = checkEnv(env, { seed: config.seed });
    for (const r of results) console.log(`${r.ok ? 'ok' : 'FAIL'} ${r.check}: ${r.message}`);
    const failed = results.filter((r) => !r.ok).length;
    if (failed) {
      console.error(`${failed} of ${results.length} checks failed`);
      process.exitCode = 1;
    }
  });
}

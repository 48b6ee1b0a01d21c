import type { Command } from 'commander';
import { loadPlugins, type PluginInfo } from '../tasks/plugins.js';

/* The `--plugin FILE` option of the commands that select agents or reward terms (see tasks/plugins.ts). */

/** Add the repeatable `--plugin <file>` option. */
export function withPluginOption(cmd: Command): Command {
  return cmd.option(
    '--plugin <file>',
    "ES module registering agents / reward terms (registerAgent, registerReward from 'dbmim'); repeatable",
    (v: string, prev: string[] = []) => [...prev, v],
  );
}

/** Load `--plugin` files and print what they registered to stderr (unless quiet). */
export async function usePlugins(files: readonly string[] | undefined, quiet = false): Promise<PluginInfo[]> {
  const infos = await loadPlugins(files ?? []);
  if (!quiet)
    for (const p of infos)
      console.error(
        `plugin ${p.file}: ${[...p.agents.map((a) => `agent ${a}`), ...p.rewards.map((r) => `reward ${r}`)].join(', ')}`,
      );
  return infos;
}

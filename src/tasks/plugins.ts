import { existsSync, statSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILTIN_AGENTS, registeredAgents } from '../agents/index.js';
import { rootDi } from '../core/container.js';
import { ConfigError } from '../core/errors.js';
import { agentToken, rewardToken } from '../core/tokens.js';
import { REWARD_CONFIG_NAMES, registeredRewards } from '../env/rewards/registry.js';

/*
 * `--plugin FILE`: an ES module whose top level calls `registerAgent` / `registerReward` imported from
 * 'dbmim'. The bare specifier 'dbmim' is pointed at the copy of the library that is running (a resolve
 * hook), so the plugin registers into the same registry the command reads, whether dbmim runs from an
 * installed package, a checkout's dist/ or its sources. What a plugin registered is found by comparing
 * the registries before and after its import; replacing a built-in is refused (and undone).
 */

/** Extensions a plugin may have; `.ts` / `.mts` need tsx. */
const PLUGIN_EXTENSIONS = ['.js', '.mjs', '.ts', '.mts'];

/** What one plugin registered. */
export interface PluginInfo {
  file: string;
  agents: string[];
  rewards: string[];
}

/** Plugins already imported in this process, by URL (an ES module's top level runs once). */
const loaded = new Map<string, PluginInfo>();
let hookInstalled = false;
let tsxRegistered = false;

/** Make `import ... from 'dbmim'` inside plugins resolve to this running copy of the library. */
function installResolveHook(): void {
  if (hookInstalled) return;
  const self = import.meta.url;
  const target = new URL(self.endsWith('.ts') ? '../index.ts' : '../index.js', self).href;
  const hook =
    'let target;export async function initialize(d){target=d.target}' +
    // resolve the target through the rest of the chain, so a TypeScript loader (tsx) still handles it
    "export async function resolve(s,c,next){return next(s==='dbmim'?target:s,c)}";
  registerHooks(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { target } });
  hookInstalled = true;
}

/** Factory identity of every registered agent and reward term (to see what an import changed). */
function snapshot(): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const n of registeredAgents()) m.set(agentToken(n), rootDi.resolve(agentToken(n)));
  for (const n of registeredRewards()) m.set(rewardToken(n), rootDi.resolve(rewardToken(n)));
  return m;
}

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

async function importPlugin(file: string, url: string): Promise<void> {
  try {
    await import(url);
  } catch (e) {
    const code = (e as { code?: string }).code;
    // (the code can be lost when the error crosses from the module hooks' thread: match the text too)
    const unknownExt = code === 'ERR_UNKNOWN_FILE_EXTENSION' || /Unknown file extension/.test(message(e));
    if (unknownExt && !tsxRegistered) {
      // A TypeScript plugin outside tsx: register tsx's loader if it is installed, then retry once.
      let tsx: { register: () => unknown };
      try {
        tsx = (await import('tsx/esm/api' as string)) as typeof tsx;
      } catch {
        throw new ConfigError(
          `--plugin ${file}: a TypeScript plugin needs tsx (npm install tsx), or compile it to .mjs`,
        );
      }
      tsx.register();
      tsxRegistered = true;
      // a new URL: the failed import of the plain one stays cached
      return importPlugin(file, `${url}?tsx`);
    }
    const hint =
      /require\(\)/.test(message(e)) && file.endsWith('.ts')
        ? ' (a .ts plug-in must be an ES module: name it .mts, or set "type": "module" in its package.json)'
        : '';
    throw new ConfigError(`--plugin ${file}: the module threw on import: ${message(e)}${hint}`);
  }
}

/**
 * Import plugins in order and report what each registered. One ConfigError line for: a missing file,
 * a module that throws on import, one that registers nothing, one that replaces a built-in.
 */
export async function loadPlugins(files: readonly string[] = []): Promise<PluginInfo[]> {
  const out: PluginInfo[] = [];
  for (const file of files) {
    const abs = resolve(file);
    if (!existsSync(abs) || !statSync(abs).isFile())
      throw new ConfigError(`--plugin ${file}: file not found`);
    if (!PLUGIN_EXTENSIONS.includes(extname(abs)))
      throw new ConfigError(`--plugin ${file}: expected an ES module (${PLUGIN_EXTENSIONS.join(', ')})`);
    const url = pathToFileURL(abs).href;
    const seen = loaded.get(url);
    if (seen) {
      out.push({ ...seen, file }); // already imported (maybe under another spelling): report this one
      continue;
    }
    installResolveHook();
    const before = snapshot();
    await importPlugin(file, url);
    const after = snapshot();
    const changed = [...after.keys()].filter((k) => before.get(k) !== after.get(k));
    const builtin = new Set([
      ...BUILTIN_AGENTS.map(agentToken),
      ...Object.values(REWARD_CONFIG_NAMES).map(rewardToken),
    ]);
    const clash = changed.filter((k) => builtin.has(k));
    if (clash.length) {
      for (const k of clash) rootDi.register(k, { useValue: before.get(k) }); // undo
      const names = clash.map((k) => `'${k.replace(/^dbmim:(agent|reward):/, '')}'`).join(', ');
      throw new ConfigError(
        `--plugin ${file}: registers ${names}, which is a built-in name; choose another name`,
      );
    }
    const info: PluginInfo = {
      file,
      agents: changed.filter((k) => k.startsWith('dbmim:agent:')).map((k) => k.slice('dbmim:agent:'.length)),
      rewards: changed
        .filter((k) => k.startsWith('dbmim:reward:'))
        .map((k) => k.slice('dbmim:reward:'.length)),
    };
    if (!info.agents.length && !info.rewards.length)
      throw new ConfigError(
        `--plugin ${file}: registered no agent or reward term (call registerAgent / registerReward from 'dbmim' at its top level)`,
      );
    loaded.set(url, info);
    out.push(info);
  }
  return out;
}

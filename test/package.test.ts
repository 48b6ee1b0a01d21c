import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { staleBuild } from '../scripts/stale-build.js';

/*
 * The npm package: `npm pack` of this checkout's build (dist/, built by `npm ci` / `npm run build`),
 * installed into an empty directory from the tarball (its dependencies from the npm cache, the registry
 * only for what the cache lacks), then `npx dbmim info`, `import { MaskingEnv } from 'dbmim'` with its
 * types, and a plug-in that imports 'dbmim' from the installed package. The slowest test (tens of
 * seconds: it unpacks tfjs); nothing here runs a model.
 */

const ROOT = resolve('.');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0)
    assert.unreachable(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Run a command to its end without blocking the others: exit status and output. */
function runAsync(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      cmd,
      args,
      { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) =>
        done({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('npm pack -> npm install ./dbmim-*.tgz in an empty dir -> npx dbmim info, import with types, a plug-in', async () => {
  assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: run `npm run build` (npm ci does)');
  const stale = staleBuild(ROOT);
  if (stale.length)
    console.log(
      `note: ${stale[0]} is newer than its build; the package test checks the last build (npm run build)`,
    );
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'dbmim-pack-'));
  try {
    await packInstallCheck(work, t0);
  } finally {
    rmSync(work, { recursive: true, force: true }); // the install is ~360 MB
  }
});

async function packInstallCheck(work: string, t0: number): Promise<void> {
  // --ignore-scripts: pack the existing build (the prepare script would rebuild, ~40 s on 2 cores)
  const pack = run(NPM, ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], ROOT);
  const [info] = JSON.parse(pack.stdout) as { filename: string; size: number; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  for (const f of ['bin/dbmim.js', 'dist/index.js', 'dist/index.d.ts', 'data/isbi2012_train.h5'])
    assert.ok(files.includes(f), `tarball lacks ${f}`);
  assert.ok(
    files.includes('examples/plugins/reinforce.mjs') && files.includes('examples/python/dbmim_encoder.py'),
  );
  assert.not.ok(
    files.some((f) => f.startsWith('src/') || f.startsWith('test/')),
    'sources and tests stay out',
  );
  console.log(`tarball ${info!.filename}: ${(info!.size / 1e6).toFixed(1)} MB, ${files.length} files`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // dependencies from the npm cache (filled by `npm ci`); the registry only for what it lacks
  run(
    NPM,
    [
      'install',
      join(work, info!.filename),
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
    ],
    app,
  );
  const t1 = performance.now();

  writeFileSync(
    join(app, 'check.ts'),
    "import { MaskingEnv, registeredAgents, type Config } from 'dbmim';\n" +
      'const env: typeof MaskingEnv = MaskingEnv;\n' +
      "const seed: Config['seed'] = 1;\n" +
      'export const ok: [unknown, number, string[]] = [env, seed, registeredAgents()];\n',
  );
  writeFileSync(
    join(app, 'my-agent.mjs'),
    "import { registerAgent, RandomMaskAgent, MaskingEnv } from 'dbmim';\n" +
      "if (typeof MaskingEnv !== 'function') throw new Error('no MaskingEnv');\n" +
      "registerAgent('my-agent', (c) => new RandomMaskAgent(c.rng, 0.5));\n",
  );
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  // three independent checks, run side by side
  const [version, types, plugin] = await Promise.all([
    runAsync(NPX, ['--no-install', 'dbmim', 'info'], app),
    runAsync(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--skipLibCheck', 'check.ts'],
      app,
    ),
    runAsync(
      NPX,
      [
        '--no-install',
        'dbmim',
        'bench',
        '--synthetic',
        '--plugin',
        './my-agent.mjs',
        '--policies',
        'my-agent,nope',
        '--out',
        'out',
      ],
      app,
    ),
  ]);
  assert.is(version.status, 0, version.stderr);
  assert.match(version.stdout, /^dbmim \d+\.\d+\.\d+/m);
  assert.match(version.stdout, /backend: /);
  assert.is(types.status, 0, `import from 'dbmim' does not typecheck:\n${types.stdout}${types.stderr}`);
  // the plug-in registered into the installed dbmim: the unknown-policy error lists 'my-agent' as known
  assert.is(plugin.status, 1, plugin.stderr);
  assert.match(plugin.stderr, /plugin \.\/my-agent\.mjs: agent my-agent/);
  assert.match(plugin.stderr, /unknown policy 'nope' \(known: [^)]*my-agent/);
  console.log(
    `package test: pack + install ${((t1 - t0) / 1000).toFixed(1)} s, checks ${((performance.now() - t1) / 1000).toFixed(1)} s (machine shared: timings vary)`,
  );
}

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootDi } from '../src/core/container.js';
import { agentToken } from '../src/core/tokens.js';
import { runCli } from './cli-harness.js';
import { TINY_BENCH_CONFIG } from './tiny-bench-config.js';

/*
 * `--plugin FILE`: the shipped REINFORCE plug-in benchmarked beside a built-in policy; a reward term from a
 * plug-in weighted through the config; one clear error line for each bad plug-in.
 */

const dir = mkdtempSync(join(tmpdir(), 'dbmim-plugins-'));
const TINY = join(dir, 'tiny.json');
writeFileSync(TINY, JSON.stringify(TINY_BENCH_CONFIG));

function plugin(name: string, body: string): string {
  const f = join(dir, name);
  writeFileSync(f, body);
  return f;
}

test('bench --plugin examples/plugins/reinforce.mjs --policies reinforce,random: a report row for reinforce', async () => {
  const out = join(dir, 'bench');
  const r = await runCli(
    'bench',
    '--synthetic',
    '--plugin',
    'examples/plugins/reinforce.mjs',
    '--policies',
    'reinforce,random',
    '--seeds',
    '1',
    '--no-scratch',
    '--probe',
    'none',
    '--finetune',
    'all',
    '--config',
    TINY,
    '--out',
    out,
  );
  assert.is(r.code, 0, r.err.join('\n'));
  assert.ok(
    r.err.some((l) => /plugin examples\/plugins\/reinforce\.mjs: agent reinforce/.test(l)),
    r.err.join('\n'),
  );
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    runs: { policy: string; evaluations: { test: { voi_sum: number } }[] }[];
  };
  assert.equal(results.runs.map((x) => x.policy).sort(), ['random', 'reinforce']);
  assert.ok(results.runs.every((x) => Number.isFinite(x.evaluations[0]!.test.voi_sum)));
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| reinforce \| finetune \| all \| 1 \|/);
});

test('a reward term from a plug-in counts once weighted in the config (rollout)', async () => {
  const f = plugin(
    'const-reward.mjs',
    "import { registerReward } from 'dbmim';\n" +
      "registerReward('plugin-const', (ctx) => new Float32Array(ctx.numEnvs * ctx.numAgents).fill(2));\n",
  );
  const r = await runCli(
    'rollout',
    '--synthetic',
    '--plugin',
    f,
    '--config',
    TINY,
    '--steps',
    '1',
    '--set',
    'reward.extra.plugin-const=0.5',
  );
  assert.is(r.code, 0, r.err.join('\n'));
  const line = JSON.parse(r.out.find((l) => l.startsWith('{'))!) as {
    reward: { terms: Record<string, number> };
  };
  assert.is(line.reward.terms['plugin-const'], 2);
});

test('bad plug-ins: missing, throws, registers nothing, replaces a built-in: one line each', async () => {
  const randomBefore = rootDi.resolve(agentToken('random'));
  const cases: [string, RegExp][] = [
    [join(dir, 'nope.mjs'), /--plugin .*nope\.mjs: file not found/],
    [
      plugin('throws.mjs', "throw new Error('boom at import');\n"),
      /throws\.mjs: the module threw on import: boom at import/,
    ],
    [plugin('nothing.mjs', 'export const x = 1;\n'), /nothing\.mjs: registered no agent or reward term/],
    [
      plugin('clash.mjs', "import { registerAgent } from 'dbmim';\nregisterAgent('random', () => null);\n"),
      /clash\.mjs: registers 'random', which is a built-in name/,
    ],
    [plugin('notes.txt', 'hello'), /notes\.txt: expected an ES module/],
  ];
  for (const [file, pattern] of cases) {
    const r = await runCli('rollout', '--synthetic', '--plugin', file, '--config', TINY, '--steps', '1');
    assert.is(r.code, 1, file);
    const errors = r.err.filter((l) => l.startsWith('error:'));
    assert.is(errors.length, 1, r.err.join('\n'));
    assert.not.match(errors[0]!, /\n/);
    assert.match(errors[0]!, pattern);
  }
  assert.is(rootDi.resolve(agentToken('random')), randomBefore, 'the built-in was restored');
});

test.run();

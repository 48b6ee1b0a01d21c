import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './cli-harness.js';

const run = (...args: string[]) => runCli('--backend', 'wasm', ...args);

/** A small model and volume so the commands run in about a second. */
const SMALL = [
  '--synthetic',
  ...['model.crop=4,32,32', 'model.patch=2,16,16', 'model.embedDim=16', 'model.depth=1', 'model.heads=2']
    .concat(['model.decoderDim=16', 'model.decoderHeads=2', 'data.syntheticShape=8,48,48', 'env.numEnvs=2'])
    .concat(['env.horizon=2', 'env.heldOutCrops=1'])
    .flatMap((s) => ['--set', s]),
];

test('check-env: one ok line per check, exit 0', async () => {
  const r = await run('check-env', ...SMALL, '--seed', '4');
  assert.is(r.code, 0, r.err.join('\n'));
  assert.is(r.out.length, 12);
  assert.ok(
    r.out.every((l) => l.startsWith('ok ')),
    r.out.join('\n'),
  );
  assert.match(r.out.join('\n'), /^ok horizon: all 16 rows truncated at step 2$/m);
});

test('rollout: one JSON line per step; the same seed prints the same lines; bad policy is an error', async () => {
  const a = await run('rollout', '--policy', 'edge', '--steps', '3', '--seed', '5', ...SMALL);
  assert.is(a.code, 0, a.err.join('\n'));
  assert.is(a.out.length, 3);
  const rows = a.out.map(
    (l) => JSON.parse(l) as { step: number; maskRatio: number; reward: { terms: Record<string, number> } },
  );
  assert.equal(
    rows.map((r) => r.step),
    [0, 1, 2],
  );
  assert.ok(
    rows.every((r) => r.maskRatio === 0.75),
    'edge masks round(0.75 * 8) = 6 of 8 patches',
  );
  assert.ok('reconstruction' in rows[0]!.reward.terms);
  const b = await run('rollout', '--policy', 'edge', '--steps', '3', '--seed', '5', ...SMALL);
  assert.equal(b.out, a.out);
  const c = await run('rollout', '--policy', 'random', '--steps', '2', '--seed', '5', ...SMALL);
  assert.is(c.code, 0);
  const k = await run('rollout', '--policy', 'all-keep', '--steps', '1', '--seed', '5', ...SMALL);
  assert.is(
    (JSON.parse(k.out[0]!) as { maskRatio: number }).maskRatio,
    0.375,
    'budget minimum ceil(0.35 * 8) = 3',
  );
  const bad = await run('rollout', '--policy', 'nope', ...SMALL);
  assert.is(bad.code, 1);
  assert.match(
    bad.err.join('\n'),
    /--policy: expected all-keep or a registered agent \(.*edge.*\), got 'nope'/,
  );
});

test.run();

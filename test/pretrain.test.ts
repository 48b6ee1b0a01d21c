import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { TOKENS } from '../src/core/tokens.js';
import { buildPretraining } from '../src/tasks/pretrain/build.js';
import { episodeSeed } from '../src/tasks/pretrain/trainer.js';

// A small, fast pretraining config: tiny-ish model, 2 envs, 16x64x64 crops from a synthetic volume.
const SMALL = [
  '--set',
  'env.numEnvs=2',
  '--set',
  'env.horizon=4',
  '--set',
  'ppo.rolloutSteps=4',
  '--set',
  'model.embedDim=32',
  '--set',
  'model.depth=1',
  '--set',
  'model.heads=2',
  '--set',
  'model.decoderDim=32',
  '--set',
  'model.decoderHeads=2',
  '--set',
  'data.syntheticShape=16,64,64',
];
const CLI = ['--import', 'tsx', 'scripts/dev.ts', '-q', 'pretrain', '--synthetic', '--seed', '5', ...SMALL];

function manifestSha(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { sha256: string }).sha256;
}

function lines(path: string): { type: string; step: number; stats?: Record<string, unknown> }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

test('trainer emits typed events, diagnostics at every update, and publishes the encoder', async () => {
  await selectBackend('wasm');
  const config = resolveConfig({
    seed: 2,
    env: { numEnvs: 2, horizon: 4 },
    ppo: { rolloutSteps: 4 },
    model: { embedDim: 32, depth: 1, heads: 2, decoderDim: 32, decoderHeads: 2 },
    data: { syntheticShape: [16, 64, 64] },
    agent: { name: 'ippo' },
    train: { phase1Steps: 8, phase2Steps: 4, checkpointEvery: 0 },
  });
  const out = mkdtempSync(join(tmpdir(), 'dbmim-pt-'));
  const setup = await buildPretraining(config, { outDir: out });
  const all = firstValueFrom(setup.trainer.events$.pipe(toArray()));
  const r = await setup.trainer.run();
  const events = await all;
  assert.is(r.steps, 12);
  assert.equal(
    events.filter((e) => e.type === 'phase').map((e) => (e as { phase: number }).phase),
    [1, 2],
  );
  const updates = events.filter((e) => e.type === 'update');
  // phase 1: PPO updates at steps 4, 8 (with losses); phase 2: diagnostics only (policy frozen)
  assert.equal(
    updates.map((u) => u.step),
    [4, 8],
  );
  for (const u of updates) {
    const s = (u as { stats: Record<string, unknown> }).stats;
    for (const k of [
      'entropy',
      'maskRatioHistogram',
      'maskOnTopMembraneQuartile',
      'saturatedFraction',
      'policyLoss',
    ])
      assert.ok(k in s, `update stats lack ${k}`);
    assert.is(
      (s.maskRatioHistogram as number[]).reduce((a, b) => a + b, 0),
      4 * 2,
    );
  }
  assert.is(events.filter((e) => e.type === 'episode').length, 3);
  assert.is(events.at(-1)!.type, 'done');
  assert.ok(existsSync(join(out, 'checkpoint', 'model', 'manifest.json')));
  assert.is(lines(join(out, 'metrics.jsonl')).length, events.length);
  // the trainer handed the encoder to the default sink when its run ended
  const enc = setup.container.resolve(TOKENS.PretrainedEncoder) as { weights: { name: string }[] };
  assert.ok(enc.weights.length > 0 && enc.weights.every((w) => w.name.startsWith('encoder/')));
  setup.dispose();
  assert.is.not(episodeSeed(1, 0), episodeSeed(1, 1));
});

test('kill test: SIGKILL after the first checkpoint, resume, same final weights as an uninterrupted run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'dbmim-kill-'));
  const a = join(root, 'a');
  const b = join(root, 'b');
  const args = ['--agent', 'mappo', '--steps', '24', '--checkpoint-every', '4'];
  const full = spawnSync(process.execPath, [...CLI, ...args, '--out', a], { encoding: 'utf8' });
  assert.is(full.status, 0, full.stderr);

  const child = spawn(process.execPath, [...CLI, ...args, '--out', b], { stdio: 'ignore' });
  const killedAt = await new Promise<number>((resolve) => {
    const timer = setInterval(() => {
      const ck = lines(join(b, 'metrics.jsonl')).find((e) => e.type === 'checkpoint');
      if (ck) {
        child.kill('SIGKILL');
        clearInterval(timer);
        resolve(ck.step);
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      resolve(-1);
    });
  });
  await new Promise((r) =>
    child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r),
  );
  assert.is(
    child.signalCode,
    'SIGKILL',
    `the run finished before it could be killed (checkpoint at ${killedAt})`,
  );
  const before = lines(join(b, 'metrics.jsonl')).filter((e) => e.type === 'step').length;
  assert.ok(before < 24, `killed run got to step ${before}`);

  const resumed = spawnSync(
    process.execPath,
    [...CLI, ...args, '--out', b, '--resume', join(b, 'checkpoint')],
    {
      encoding: 'utf8',
    },
  );
  assert.is(resumed.status, 0, resumed.stderr);
  assert.is(manifestSha(join(b, 'checkpoint', 'model')), manifestSha(join(a, 'checkpoint', 'model')));
  assert.is(manifestSha(join(b, 'checkpoint', 'agent')), manifestSha(join(a, 'checkpoint', 'agent')));
  // the resumed run's log continues the killed one: one step line per step
  assert.equal(
    lines(join(b, 'metrics.jsonl'))
      .filter((e) => e.type === 'step')
      .map((e) => e.step),
    Array.from({ length: 24 }, (_, i) => i + 1),
  );
});

test('pretrain CLI: unknown agent and resume from a non-checkpoint are clear errors', () => {
  const root = mkdtempSync(join(tmpdir(), 'dbmim-bad-'));
  const r1 = spawnSync(process.execPath, [...CLI, '--agent', 'nope', '--steps', '2', '--out', root], {
    encoding: 'utf8',
  });
  assert.is(r1.status, 1);
  assert.match(r1.stderr, /unknown agent 'nope'; registered agents: block, edge, ippo, mappo, mixed, random/);
  const r2 = spawnSync(
    process.execPath,
    [...CLI, '--agent', 'random', '--steps', '2', '--out', root, '--resume', root],
    {
      encoding: 'utf8',
    },
  );
  assert.is(r2.status, 1);
  assert.match(r2.stderr, /cannot resume: .*trainer\.json not found/);
});

test.run();

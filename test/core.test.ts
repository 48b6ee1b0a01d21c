import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/rng.js';
import { resolveConfig, loadConfig, applyOverrides } from '../src/core/config.js';
import { ConfigError, CheckpointError } from '../src/core/errors.js';
import { parseBackend, selectBackend } from '../src/core/backend.js';
import { saveCheckpoint, loadCheckpoint } from '../src/models/checkpoint.js';
import { writeFileAtomic } from '../src/core/fs.js';
import { VERSION } from '../src/version.js';

test('version matches package.json', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  assert.is(VERSION, pkg.version);
});

test('rng: same seed same stream; split streams are independent of draws elsewhere', () => {
  const a = Rng.fromSeed(5);
  const b = Rng.fromSeed(5);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.equal(
    xs,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.not.equal(
    xs,
    Array.from({ length: 5 }, () => Rng.fromSeed(6).next()),
  );
  const r1 = Rng.fromSeed(1);
  const aug1 = r1.split('augment');
  const r2 = Rng.fromSeed(1);
  r2.split('crops').next(); // drawing from another purpose does not shift 'augment'
  r2.next();
  const aug2 = r2.split('augment');
  assert.is(aug1.next(), aug2.next());
  assert.is.not(Rng.fromSeed(1).split('a').next(), Rng.fromSeed(1).split('b').next());
});

test('rng: state round trip continues the stream exactly', () => {
  const r = Rng.fromSeed('x');
  r.next();
  r.normal();
  const s = JSON.parse(JSON.stringify(r.getState()));
  const want = [r.next(), r.int(100), r.normal()];
  const q = Rng.restore(s);
  assert.equal([q.next(), q.int(100), q.normal()], want);
});

test('rng: normal has mean ~0 and variance ~1', () => {
  const r = Rng.fromSeed(3);
  let s = 0;
  let s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const v = r.normal();
    s += v;
    s2 += v * v;
  }
  assert.ok(Math.abs(s / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.05);
});

test('config: defaults, presets, explicit fields win', () => {
  const c = resolveConfig({});
  assert.is(c.model.preset, 'tiny');
  assert.is(c.model.embedDim, 96);
  const s = resolveConfig({ model: { preset: 'small' } });
  assert.is(s.model.embedDim, 192);
  assert.is(s.model.depth, 6);
  const p = resolveConfig({ model: { preset: 'paper', depth: 2 } });
  assert.equal(p.model.crop, [32, 160, 160]);
  assert.is(p.model.depth, 2);
});

test('config: unknown field and out-of-range value name the field, value and expectation', () => {
  assert.throws(
    () => resolveConfig({ model: { embedDimm: 3 } }),
    (e: Error) => e instanceof ConfigError && /model\.embedDimm/.test(e.message),
  );
  assert.throws(
    () => resolveConfig({ env: { minRatio: 1.5 } }),
    (e: Error) =>
      e instanceof ConfigError &&
      /env\.minRatio: got 1\.5/.test(e.message) &&
      /<=1|less than or equal/i.test(e.message),
  );
  assert.throws(
    () => resolveConfig({ seed: 'a' }),
    (e: Error) => /seed: got "a", expected number/.test(e.message),
  );
  assert.throws(() => resolveConfig({ model: { crop: [16, 60, 64] } }), /not a multiple of model\.patch/);
  assert.throws(
    () => resolveConfig({ env: { minRatio: 0.8, maxRatio: 0.5 } }),
    /minRatio 0\.8 is above env\.maxRatio 0\.5/,
  );
});

test('config: file plus dotted overrides; bad file errors name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-cfg-'));
  const f = join(dir, 'c.json');
  writeFileSync(f, JSON.stringify({ seed: 4, model: { depth: 2 } }));
  const c = loadConfig(f, ['model.heads=2', 'model.crop=8,32,32', 'data.augment=false']);
  assert.is(c.seed, 4);
  assert.is(c.model.depth, 2);
  assert.is(c.model.heads, 2);
  assert.equal(c.model.crop, [8, 32, 32]);
  assert.is(c.data.augment, false);
  assert.throws(
    () => loadConfig(join(dir, 'nope.json')),
    (e: Error) => e instanceof ConfigError && /nope\.json/.test(e.message),
  );
  writeFileSync(f, '{bad');
  assert.throws(() => loadConfig(f), /c\.json is not valid JSON/);
  assert.throws(() => applyOverrides({}, ['novalue']), /expected field\.path=value/);
});

test('backend: parse names, env var cpu selects cpu, tensorflow request fails clearly', async () => {
  assert.is(parseBackend('WASM', 'x'), 'wasm');
  assert.throws(() => parseBackend('gpu', '--backend'), /--backend: unknown backend 'gpu'/);
  let msg = '';
  try {
    await selectBackend('tensorflow');
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /@tensorflow\/tfjs-node is not installed/);
  const info = await selectBackend('wasm');
  assert.is(info.name, 'wasm');
  assert.is(typeof info.flags.simd, 'boolean');
});

test('checkpoint: exact round trip; corrupt or mismatched files get clear errors', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'dbmim-ck-')), 'ck');
  const a = new Float32Array([1.5, -2, 3.25, Math.PI, 1e-30, -0]);
  const b = new Int32Array([7, -8]);
  await saveCheckpoint(
    dir,
    [
      { name: 'w', shape: [2, 3], dtype: 'float32', data: a },
      { name: 'n', shape: [2], dtype: 'int32', data: b },
    ],
    { step: 12, config: { x: 1 }, meta: { note: 'hi' } },
  );
  const ck = loadCheckpoint(dir);
  assert.is(ck.manifest.step, 12);
  assert.equal(Array.from(ck.tensors.get('w')!.data), Array.from(a));
  assert.equal(ck.tensors.get('n')!.data, b);
  assert.equal(ck.manifest.meta, { note: 'hi' });
  // truncated weights
  const w = readFileSync(join(dir, 'weights.bin'));
  writeFileSync(join(dir, 'weights.bin'), w.subarray(0, 8));
  assert.throws(
    () => loadCheckpoint(dir),
    (e: Error) => e instanceof CheckpointError && /checksum/.test(e.message),
  );
  writeFileSync(join(dir, 'weights.bin'), w);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  m.tensors[0].dtype = 'float64';
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  assert.throws(() => loadCheckpoint(dir), /tensor 'w' has unsupported dtype 'float64'/);
  assert.throws(() => loadCheckpoint(join(dir, 'missing')), /directory not found/);
});

test('writeFileAtomic leaves no temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-at-'));
  writeFileAtomic(join(dir, 'a.txt'), 'x');
  assert.ok(existsSync(join(dir, 'a.txt')));
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'x');
});

test.run();

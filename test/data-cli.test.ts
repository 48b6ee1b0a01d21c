import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli-harness.js';
import { readArray, writeDatasets } from '../src/data/hdf5.js';

const dir = mkdtempSync(join(tmpdir(), 'dbmim-data-cli-'));

const run = runCli;

test('synth writes CREMI layout atomically; the same seed twice gives byte-identical datasets', async () => {
  const a = join(dir, 'a.h5');
  const b = join(dir, 'b.h5');
  const c = join(dir, 'c.h5');
  const r1 = await run('synth', '--out', a, '--shape', '4,32,40', '--seed', '11');
  assert.is(r1.code, 0, r1.err.join('\n'));
  assert.match(r1.out.join('\n'), /wrote .*a\.h5: shape \[4,32,40\], seed 11/);
  await run('synth', '--out', b, '--shape', '4,32,40', '--seed', '11');
  await run('synth', '--out', c, '--shape', '4,32,40', '--seed', '12', '--labels-dtype', 'uint32');
  for (const key of ['volumes/raw', 'volumes/labels/neuron_ids', 'volumes/labels/membrane']) {
    const x = await readArray(a, key);
    const y = await readArray(b, key);
    assert.equal(x.shape, [4, 32, 40]);
    assert.equal(x.resolution, [40, 4, 4]);
    assert.is(x.dtype, y.dtype);
    assert.ok(Buffer.from(x.data.buffer).equals(Buffer.from(y.data.buffer)), key);
  }
  assert.is((await readArray(a, 'volumes/raw')).dtype, 'uint8');
  assert.is((await readArray(a, 'volumes/labels/neuron_ids')).dtype, 'uint64');
  const cl = await readArray(c, 'volumes/labels/neuron_ids');
  assert.is(cl.dtype, 'uint32');
  const araw = await readArray(a, 'volumes/raw');
  const craw = await readArray(c, 'volumes/raw');
  assert.not.ok(Buffer.from(araw.data.buffer).equals(Buffer.from(craw.data.buffer)));
  // only the three outputs, no temp files left
  assert.equal(readdirSync(dir).sort(), ['a.h5', 'b.h5', 'c.h5']);
});

test('synth: bad options are one-line errors with exit 1; --help exits 0', async () => {
  const r = await run('synth', '--out', join(dir, 'x.h5'), '--shape', '4,0,8');
  assert.is(r.code, 1);
  assert.match(r.err.join('\n'), /^error: --shape: expected three integers >= 1/);
  const r2 = await run('synth', '--out', join(dir, 'x.h5'), '--labels-dtype', 'float32');
  assert.is(r2.code, 1);
  assert.match(r2.err.join('\n'), /--labels-dtype/);
  const h = await run('synth', '--help');
  assert.is(h.code, 0);
  assert.match(h.out.join(''), /--seed/);
  const h2 = await run('data', 'check', '--help');
  assert.is(h2.code, 0);
  assert.match(h2.out.join(''), /--labels/);
});

test('data inspect prints the datasets as JSON', async () => {
  const r = await run('data', 'inspect', 'data/isbi2012_train.h5');
  assert.is(r.code, 0);
  const info = JSON.parse(r.out.join('\n')) as {
    datasets: { path: string; dtype: string; chunks: number[] }[];
  };
  assert.is(info.datasets.length, 4);
  const raw = info.datasets.find((d) => d.path === 'volumes/raw')!;
  assert.equal(raw, {
    path: 'volumes/raw',
    shape: [30, 512, 512],
    dtype: 'uint8',
    chunks: [1, 256, 256],
    resolution: [50, 4, 4],
  });
  const missing = await run('data', 'inspect', join(dir, 'missing.h5'));
  assert.is(missing.code, 1);
  assert.match(missing.err[0]!, /^error: file not found: .*missing\.h5$/);
});

test('data check: ok lines on a good file; one fail line per problem and exit 1 on bad ones', async () => {
  const good = join(dir, 'good.h5');
  await run('synth', '--out', good, '--shape', '2,16,16', '--seed', '1');
  const r = await run('data', 'check', good);
  assert.is(r.code, 0, r.err.join('\n'));
  assert.ok(r.out.every((l) => l.startsWith('ok ')));
  assert.match(r.out.join('\n'), /ok raw volumes\/raw \[2,16,16\] uint8/);
  assert.match(r.out.join('\n'), /ok resolution \[40,4,4\]/);
  assert.match(r.out.join('\n'), /ok labels volumes\/labels\/neuron_ids \[2,16,16\] uint64/);

  const txt = join(dir, 'text.h5');
  writeFileSync(txt, 'not hdf5');
  const t = await run('data', 'check', txt);
  assert.is(t.code, 1);
  assert.match(t.err[0]!, /^fail .*not an HDF5 file/);

  const bad = join(dir, 'bad.h5');
  const nan = new Float32Array(2 * 4 * 4).fill(0.5);
  nan[5] = Infinity;
  await writeDatasets(bad, [
    { key: 'volumes/raw', data: nan, shape: [2, 4, 4] },
    { key: 'volumes/labels/neuron_ids', data: new Float32Array(2 * 4 * 5), shape: [2, 4, 5] },
    { key: 'flat', data: new Uint8Array(16), shape: [4, 4] },
    { key: 'ids', data: new Uint32Array(2 * 4 * 5), shape: [2, 4, 5] },
  ]);
  const b = await run('data', 'check', bad);
  assert.is(b.code, 1);
  const fails = b.err.filter((l) => l.startsWith('fail '));
  assert.is(fails.length, 2, b.err.join('\n'));
  assert.match(fails[0]!, /non-finite value \(Infinity\) at voxel \(z,y,x\) = \(0,1,1\)/);
  assert.match(fails[1]!, /labels volumes\/labels\/neuron_ids have dtype float32/);
  assert.ok(b.err.some((l) => /^warn no 'resolution'/.test(l)));
  assert.match(b.err.at(-1)!, /2 problems in/);

  const m = await run('data', 'check', `${bad}:flat`, '--labels', 'ids');
  assert.is(m.code, 1);
  assert.match(m.err.join('\n'), /raw flat has shape \[4,4\]; expected a 3D volume/);
  const s = await run('data', 'check', bad, '--raw', 'volumes/raw', '--labels', 'nope');
  assert.match(s.err.join('\n'), /labels dataset 'nope' not found/);
  const shapeMismatch = await run('data', 'check', good, '--labels', 'volumes/labels/membrane');
  assert.is(shapeMismatch.code, 0); // membrane has raw's shape and integer dtype
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

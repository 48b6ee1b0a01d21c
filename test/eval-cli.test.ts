import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './cli-harness.js';
import { readArray, writeDatasets } from '../src/data/hdf5.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { labelsToAffinities } from '../src/data/affinities.js';
import type { Shape3 } from '../src/data/types.js';

const dir = mkdtempSync(join(tmpdir(), 'dbmim-eval-cli-'));

const run = runCli;

const shape: Shape3 = [4, 40, 40];
const gtFile = join(dir, 'gt.h5');
const affFile = join(dir, 'aff.h5');
const segFile = join(dir, 'seg.h5');

test('segment writes one dataset per threshold; evaluate scores them and picks the best', async () => {
  const { labels } = generateSynthetic({ shape, seed: 3, cellSize: 14 });
  await writeDatasets(gtFile, [{ key: 'volumes/labels/neuron_ids', data: labels.data, shape: [...shape] }], {
    resolution: [40, 4, 4],
  });
  const aff = labelsToAffinities(labels);
  // Threshold 0.9 keeps the objects; -0.01 merges every adjacent pair (all boundary means are >= 0).
  await writeDatasets(affFile, [{ key: 'volumes/predictions/affinities', data: aff, shape: [3, ...shape] }]);
  const s = await run('segment', '--affinities', affFile, '--out', segFile, '--thresholds', '0.9,-0.01');
  assert.is(s.code, 0, s.err.join('\n'));
  const summary = JSON.parse(s.out[0]!) as { datasets: { key: string }[] };
  assert.equal(
    summary.datasets.map((d) => d.key),
    ['volumes/segmentation/threshold_0.90', 'volumes/segmentation/threshold_-0.01'],
  );
  assert.match(s.err.join('\n'), /segment \[4, 40, 40\]: read .* s, segment .* s, write .* s/);
  const ds = await readArray(segFile, 'volumes/segmentation/threshold_0.90');
  assert.is(ds.dtype, 'uint32');
  assert.equal(ds.shape, [...shape]);

  const e = await run('evaluate', '--gt', gtFile, '--pred', segFile);
  assert.is(e.code, 0, e.err.join('\n'));
  const rows = e.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.is(rows.length, 3);
  assert.equal(
    rows.slice(0, 2).map((r) => r.threshold),
    [-0.01, 0.9],
  );
  const best = rows[2] as {
    best_voi: { threshold: number; voi_sum: number };
    best_arand: { threshold: number };
  };
  assert.is(best.best_voi.threshold, 0.9);
  assert.is(best.best_arand.threshold, 0.9);
  assert.ok((rows[0]!.voi_merge as number) > 1, 'everything merged');
  for (const k of [
    'voi_split',
    'voi_merge',
    'voi_sum',
    'arand',
    'arand_precision',
    'arand_recall',
    'cremi_score',
  ])
    assert.type(rows[1]![k], 'number', k);

  // One dataset by key: one object, no best line; the border ignore and 2D mode are accepted.
  const one = await run(
    'evaluate',
    '--gt',
    gtFile,
    '--pred',
    `${segFile}:volumes/segmentation/threshold_0.90`,
    '--border-nm',
    '8',
    '--2d',
  );
  assert.is(one.code, 0, one.err.join('\n'));
  assert.is(one.out.length, 1);
  const r = JSON.parse(one.out[0]!) as Record<string, number>;
  assert.is(r.threshold, 0.9);
  assert.ok(r.voi_sum < 0.05, `voi_sum ${r.voi_sum}`);
});

test('evaluate: shape mismatch names both shapes; bad options are one-line errors', async () => {
  const other = join(dir, 'other.h5');
  await writeDatasets(other, [
    { key: 'volumes/segmentation', data: new Uint32Array(2 * 40 * 40).fill(1), shape: [2, 40, 40] },
  ]);
  const e = await run('evaluate', '--gt', gtFile, '--pred', other);
  assert.is(e.code, 1);
  assert.match(
    e.err.join('\n'),
    /gt .*gt\.h5:volumes\/labels\/neuron_ids has shape \[4,40,40\] but pred .*other\.h5:volumes\/segmentation has shape \[2,40,40\]/,
  );
  const b = await run('evaluate', '--gt', gtFile, '--pred', other, '--border-nm', 'x');
  assert.is(b.code, 1);
  assert.match(b.err.join('\n'), /--border-nm/);
  const t = await run(
    'segment',
    '--affinities',
    affFile,
    '--out',
    join(dir, 'x.h5'),
    '--thresholds',
    '0.5,a',
  );
  assert.is(t.code, 1);
  assert.match(t.err.join('\n'), /--thresholds/);
  assert.not.ok(existsSync(join(dir, 'x.h5')));
  const m = await run(
    'segment',
    '--affinities',
    `${gtFile}:volumes/labels/neuron_ids`,
    '--out',
    join(dir, 'y.h5'),
  );
  assert.is(m.code, 1);
  assert.match(m.err.join('\n'), /expected \[3, D, H, W\]/);
  const sd = await run('segment', '--affinities', affFile, '--out', join(dir, 'z.h5'), '--seeds', 'minima');
  assert.is(sd.code, 1);
  assert.match(sd.err.join('\n'), /--seeds: expected 'hminima', 'distance' or 'threshold', got 'minima'/);
  const sh = await run('segment', '--affinities', affFile, '--out', join(dir, 'z.h5'), '--seed-h', '-1');
  assert.is(sh.code, 1);
  assert.match(sh.err.join('\n'), /--seed-h: expected a number >= 0/);
  assert.not.ok(existsSync(join(dir, 'z.h5')));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

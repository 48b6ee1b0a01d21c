import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../src/core/errors.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';

const SHAPE: Shape3 = [12, 96, 96];

/** Size of each label's largest 6-connected component over its total voxel count, voxel-weighted. */
function largestComponentFraction(labels: Uint32Array, [d, h, w]: Shape3): number {
  const seen = new Uint8Array(labels.length);
  const total = new Map<number, number>();
  const largest = new Map<number, number>();
  const stack: number[] = [];
  for (let s = 0; s < labels.length; s++) {
    const id = labels[s]!;
    if (id === 0 || seen[s]) continue;
    let size = 0;
    seen[s] = 1;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const x = i % w;
      const y = Math.floor(i / w) % h;
      const z = Math.floor(i / (w * h));
      const nb = [
        x > 0 ? i - 1 : -1,
        x + 1 < w ? i + 1 : -1,
        y > 0 ? i - w : -1,
        y + 1 < h ? i + w : -1,
        z > 0 ? i - w * h : -1,
        z + 1 < d ? i + w * h : -1,
      ];
      for (const j of nb) {
        if (j >= 0 && !seen[j] && labels[j] === id) {
          seen[j] = 1;
          stack.push(j);
        }
      }
    }
    total.set(id, (total.get(id) ?? 0) + size);
    largest.set(id, Math.max(largest.get(id) ?? 0, size));
  }
  let a = 0;
  let b = 0;
  for (const [id, t] of total) {
    a += largest.get(id)!;
    b += t;
  }
  return a / b;
}

test('synthetic: same seed is byte-identical, another seed differs', () => {
  const a = generateSynthetic({ shape: SHAPE, seed: 7 });
  const b = generateSynthetic({ shape: SHAPE, seed: 7 });
  const c = generateSynthetic({ shape: SHAPE, seed: 8 });
  assert.ok(Buffer.from(a.raw.data.buffer).equals(Buffer.from(b.raw.data.buffer)));
  assert.ok(Buffer.from(a.labels.data.buffer).equals(Buffer.from(b.labels.data.buffer)));
  assert.not.ok(Buffer.from(a.raw.data.buffer).equals(Buffer.from(c.raw.data.buffer)));
  assert.not.ok(Buffer.from(a.labels.data.buffer).equals(Buffer.from(c.labels.data.buffer)));
  assert.equal(a.raw.shape, SHAPE);
  assert.equal(a.raw.resolution, [40, 4, 4]);
  assert.equal(a.labels.shape, SHAPE);
});

test('synthetic: raw in [0,1] quantized to k/255, membranes (label 0) darker than interiors', () => {
  const { raw, labels } = generateSynthetic({ shape: SHAPE, seed: 1 });
  let mem = 0;
  let sMem = 0;
  let sIn = 0;
  for (let i = 0; i < raw.data.length; i++) {
    const v = raw.data[i]!;
    assert.ok(v >= 0 && v <= 1);
    assert.is(Math.fround(Math.round(v * 255) / 255), v);
    if (labels.data[i] === 0) {
      mem++;
      sMem += v;
    } else sIn += v;
  }
  const frac = mem / raw.data.length;
  assert.ok(frac > 0.05 && frac < 0.4, `membrane fraction ${frac}`);
  const dMem = sMem / mem;
  const dIn = sIn / (raw.data.length - mem);
  assert.ok(dIn - dMem > 0.2, `interior ${dIn} vs membrane ${dMem}`);
});

test('synthetic: objects are contiguous in 3D and span several sections', () => {
  const { labels } = generateSynthetic({ shape: SHAPE, seed: 2 });
  const f = largestComponentFraction(labels.data, SHAPE);
  assert.ok(f > 0.97, `largest-component fraction ${f}`);
  const zs = new Map<number, Set<number>>();
  const hw = SHAPE[1] * SHAPE[2];
  for (let i = 0; i < labels.data.length; i++) {
    const id = labels.data[i]!;
    if (id === 0) continue;
    if (!zs.has(id)) zs.set(id, new Set());
    zs.get(id)!.add(Math.floor(i / hw));
  }
  const spans = [...zs.values()].map((s) => s.size);
  const multi = spans.filter((s) => s >= 3).length / spans.length;
  assert.ok(zs.size > 15, `objects ${zs.size}`);
  assert.ok(multi > 0.6, `objects spanning >= 3 sections: ${multi}`);
});

test('synthetic: misalignment shifts whole sections; options and bad shapes', () => {
  const a = generateSynthetic({ shape: [6, 48, 48], seed: 3, noise: 0, texture: 0 });
  const b = generateSynthetic({
    shape: [6, 48, 48],
    seed: 3,
    noise: 0,
    texture: 0,
    misalignProb: 1,
    misalignMax: 4,
  });
  assert.not.ok(Buffer.from(a.labels.data.buffer).equals(Buffer.from(b.labels.data.buffer)));
  const tiny = generateSynthetic({ shape: [1, 1, 1], seed: 0 });
  assert.is(tiny.raw.data.length, 1);
  assert.throws(
    () => generateSynthetic({ shape: [0, 4, 4], seed: 0 }),
    (e: unknown) => e instanceof InputError,
  );
  const r = generateSynthetic({ shape: [2, 8, 8], seed: 0, resolution: [30, 5, 5] });
  assert.equal(r.labels.resolution, [30, 5, 5]);
});

test.run();

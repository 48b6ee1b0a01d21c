import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/core/rng.js';
import { Box, Discrete, MultiBinary } from '../src/env/spaces.js';

test('Discrete: seeded samples, contains, shape, dtype', () => {
  const d = new Discrete(3);
  assert.equal(d.shape, []);
  assert.is(d.dtype, 'int32');
  const a = Array.from({ length: 50 }, () => d.sample(Rng.fromSeed(1)));
  assert.ok(
    a.every((v) => v === a[0]),
    'same seed, same sample',
  );
  const r = Rng.fromSeed(2);
  const xs = Array.from({ length: 300 }, () => d.sample(r));
  assert.equal([...new Set(xs)].sort(), [0, 1, 2]);
  assert.ok(xs.every((x) => d.contains(x)));
  for (const bad of [-1, 3, 1.5, '1', NaN, null]) assert.not.ok(d.contains(bad), String(bad));
  assert.throws(() => new Discrete(0), /n must be an integer >= 1/);
});

test('Box: seeded samples within bounds, contains checks length, dtype and bounds', () => {
  const b = new Box(-1, 2, [2, 3]);
  assert.is(b.size, 6);
  assert.is(b.dtype, 'float32');
  assert.equal(b.shape, [2, 3]);
  const s1 = b.sample(Rng.fromSeed(5));
  assert.equal(Array.from(s1), Array.from(b.sample(Rng.fromSeed(5))));
  assert.ok(s1 instanceof Float32Array && s1.every((v) => v >= -1 && v < 2));
  assert.ok(b.contains(s1));
  assert.not.ok(b.contains(new Float32Array(5)), 'wrong length');
  assert.not.ok(b.contains(new Float64Array(6)), 'wrong dtype');
  assert.not.ok(b.contains(Float32Array.from([0, 0, 0, 0, 0, 3])), 'above high');
  assert.not.ok(b.contains(Float32Array.from([0, 0, 0, 0, 0, NaN])), 'NaN');
  const inf = new Box(-Infinity, Infinity, [4]);
  assert.ok(inf.contains(inf.sample(Rng.fromSeed(0))));
  assert.ok(inf.contains(Float32Array.from([1e30, -1e30, Infinity, 0])));
  assert.throws(() => new Box(1, 0, [1]), /low 1 must be <= high 0/);
});

test('MultiBinary: seeded samples of 0/1, contains', () => {
  const m = new MultiBinary(16);
  assert.equal(m.shape, [16]);
  assert.is(m.dtype, 'uint8');
  const s = m.sample(Rng.fromSeed(9));
  assert.equal(Array.from(s), Array.from(m.sample(Rng.fromSeed(9))));
  assert.ok(s.every((v) => v === 0 || v === 1) && s.some((v) => v === 1) && s.some((v) => v === 0));
  assert.ok(m.contains(s));
  assert.not.ok(m.contains(new Uint8Array(15)));
  assert.not.ok(m.contains(Uint8Array.from({ length: 16 }, () => 2)));
  assert.not.ok(m.contains(new Int32Array(16)));
});

test.run();

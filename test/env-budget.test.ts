import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/core/rng.js';
import { ConfigError } from '../src/core/errors.js';
import { applyMaskBudget, budgetBounds, checkBudget, maskRatios } from '../src/env/mask-budget.js';

test('budget bounds: counts of masks allowed by [minRatio, maxRatio]', () => {
  assert.equal(budgetBounds(64, 0.35, 0.9), [23, 57]); // ceil(22.4), floor(57.6)
  assert.equal(budgetBounds(20, 0.35, 0.9), [7, 18]); // 0.35 * 20 = 7.000000000000001 still allows 7
  assert.equal(budgetBounds(8, 0.35, 0.9), [3, 7]);
  assert.throws(
    () => checkBudget(1, 0.35, 0.9),
    (e: unknown) => e instanceof ConfigError && /no mask count/.test((e as Error).message),
  );
});

test('budget: too many masks unmask the weakest preferences, too few mask the strongest', () => {
  // env 0: all 8 masked -> 7 allowed: unmask the lowest preference (agent 5, p = 0.1)
  // env 1: none masked -> 3 needed: mask agents 2, 7, 0 (p 0.9, 0.8, 0.7)
  const actions = Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const prefs = Float32Array.from([
    0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.3, 0.2, 0.7, 0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.8,
  ]);
  const out = applyMaskBudget(actions, {
    numEnvs: 2,
    numAgents: 8,
    minRatio: 0.35,
    maxRatio: 0.9,
    preferences: prefs,
    rng: Rng.fromSeed(0),
  });
  assert.equal(Array.from(out), [1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1]);
  assert.equal(Array.from(actions.subarray(0, 2)), [1, 1], 'input unchanged');
  // Within bounds: nothing changes.
  const ok = Int32Array.from([1, 0, 1, 0, 1, 0, 1, 0]);
  assert.equal(
    Array.from(applyMaskBudget(ok, { numEnvs: 1, numAgents: 8, minRatio: 0.35, maxRatio: 0.9 })),
    Array.from(ok),
  );
});

test('budget: every realized ratio is in bounds for adversarial inputs (all 0, all 1, random), with and without preferences', () => {
  const rng = Rng.fromSeed(11);
  for (const numAgents of [3, 8, 20, 64]) {
    for (const [minRatio, maxRatio] of [
      [0.35, 0.9],
      [0.5, 0.5],
      [0, 1],
      [0.75, 0.8],
    ] as const) {
      if (budgetBounds(numAgents, minRatio, maxRatio)[0] > budgetBounds(numAgents, minRatio, maxRatio)[1])
        continue;
      const numEnvs = 3;
      const n = numEnvs * numAgents;
      const inputs = [
        new Int32Array(n),
        new Int32Array(n).fill(1),
        Int32Array.from({ length: n }, () => (rng.bernoulli(0.5) ? 1 : 0)),
        Int32Array.from({ length: n }, () => (rng.bernoulli(0.97) ? 1 : 0)),
      ];
      for (const a of inputs) {
        for (const prefs of [undefined, Float32Array.from({ length: n }, () => rng.next())]) {
          const out = applyMaskBudget(a, {
            numEnvs,
            numAgents,
            minRatio,
            maxRatio,
            ...(prefs ? { preferences: prefs } : {}),
            rng: Rng.fromSeed(1),
          });
          for (const r of maskRatios(out, numEnvs, numAgents)) {
            assert.ok(
              r >= minRatio - 1e-6 && r <= maxRatio + 1e-6,
              `ratio ${r} outside [${minRatio}, ${maxRatio}] (N=${numAgents})`,
            );
          }
          // Minimal change: only as many flips as needed.
          for (let e = 0; e < numEnvs; e++) {
            let flips = 0;
            let before = 0;
            for (let i = e * numAgents; i < (e + 1) * numAgents; i++) {
              flips += out[i] !== a[i] ? 1 : 0;
              before += a[i]!;
            }
            const [lo, hi] = budgetBounds(numAgents, minRatio, maxRatio);
            assert.is(flips, Math.max(0, lo - before, before - hi));
          }
        }
      }
    }
  }
});

test('budget: without preferences the flips follow the seeded rng (same seed, same flips)', () => {
  const a = new Int32Array(64).fill(1);
  const o1 = applyMaskBudget(a, {
    numEnvs: 1,
    numAgents: 64,
    minRatio: 0.35,
    maxRatio: 0.5,
    rng: Rng.fromSeed(3),
  });
  const o2 = applyMaskBudget(a, {
    numEnvs: 1,
    numAgents: 64,
    minRatio: 0.35,
    maxRatio: 0.5,
    rng: Rng.fromSeed(3),
  });
  const o3 = applyMaskBudget(a, {
    numEnvs: 1,
    numAgents: 64,
    minRatio: 0.35,
    maxRatio: 0.5,
    rng: Rng.fromSeed(4),
  });
  assert.equal(Array.from(o1), Array.from(o2));
  assert.not.equal(Array.from(o1), Array.from(o3));
  assert.is(
    o1.reduce((s, v) => s + v, 0),
    32,
  );
});

test('budget: ties between saturated preferences are broken at random (seeded), not by index', () => {
  // A saturated policy: every agent prefers masking with probability exactly 1; 4 of 16 must be kept.
  const N = 16;
  const all = new Int32Array(N).fill(1);
  const prefs = new Float32Array(N).fill(1);
  const opts = { numEnvs: 1, numAgents: N, minRatio: 0, maxRatio: 0.75, preferences: prefs };
  const kept = (seed: number): number[] =>
    [...applyMaskBudget(all, { ...opts, rng: Rng.fromSeed(seed) })].flatMap((v, i) => (v ? [] : [i]));
  assert.equal(kept(5), kept(5), 'same seed, same flips');
  const seen = new Set<string>();
  const counts = new Array<number>(N).fill(0);
  for (let s = 0; s < 200; s++) {
    const k = kept(s);
    assert.is(k.length, 4);
    seen.add(k.join(','));
    for (const i of k) counts[i]!++;
  }
  assert.ok(seen.size > 100, `${seen.size} distinct flip sets in 200 seeds`);
  // Every agent is flipped about 200 * 4/16 = 50 times; the lowest indices are not favoured.
  for (let i = 0; i < N; i++)
    assert.ok(counts[i]! > 25 && counts[i]! < 80, `agent ${i} flipped ${counts[i]} times`);
  // Strict preferences still decide before the tie-break: the weakest one is unmasked first.
  const p2 = new Float32Array(N).fill(1);
  p2[9] = 0.5;
  const one = applyMaskBudget(all, { ...opts, maxRatio: 15 / 16, preferences: p2, rng: Rng.fromSeed(1) });
  assert.equal(
    [...one].flatMap((v, i) => (v ? [] : [i])),
    [9],
  );
  assert.throws(() => applyMaskBudget(all, opts), /flips need an rng/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { labelsToBoundary } from '../src/data/affinities.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import type { Shape3 } from '../src/data/types.js';
import { learningFreeControl } from '../src/tasks/benchmark/score-split.js';
import { distanceTransform } from '../src/tasks/eval/distance-transform.js';
import { gaussianSmooth } from '../src/data/gaussian-smooth.js';
import { intensityAffinities } from '../src/tasks/eval/intensity-affinities.js';
import { evaluateSegmentation } from '../src/tasks/eval/metrics.js';
import { hMinimaSeeds } from '../src/tasks/eval/seeds.js';
import { applySegmentation, chooseSegmentation, scoreSweep } from '../src/tasks/eval/tune.js';
import { watershed } from '../src/tasks/eval/watershed.js';

/*
 * Robust seeding (h-minima, distance transform), the learning-free control and the rule that
 * segmentation parameters are chosen on validation only.
 */

test('h-minima seeds: minima shallower than h are no seeds; each seed grows to its h-plateau', () => {
  //            0    1    2    3    4    5     6
  const map = [0, 0.5, 0.1, 0.6, 0, 0.05, 0.25];
  const shape: Shape3 = [1, 1, 7];
  // dynamics: index 0 never dies, index 2 = 0.5 - 0.1 = 0.4, index 4 = 0.6 - 0 = 0.6
  const at = (h: number) => [...hMinimaSeeds(Float32Array.from(map), shape, h).labels];
  assert.equal(at(0.45), [1, 0, 0, 0, 2, 2, 2]);
  assert.equal(at(0.3), [1, 0, 3, 0, 2, 2, 2], 'ids in order of depth');
  assert.equal(at(0.7), [1, 1, 1, 1, 1, 1, 1], 'one seed, its plateau at 0 + 0.7 covers everything');
  // a plateau minimum is one seed; 2D mode never links sections
  const two = hMinimaSeeds(Float32Array.from([0.2, 0.2, 0.9, 0.2, 0.2, 0.9]), [2, 1, 3], 0.1, {
    mode2d: true,
  });
  assert.equal([...two.labels], [1, 1, 0, 2, 2, 0]);
});

test('distance transform: equals brute force (2D per section, 3D anisotropic)', () => {
  const rng = Rng.fromSeed(3);
  const shape: Shape3 = [3, 9, 11];
  const n = 3 * 9 * 11;
  const inside = Uint8Array.from({ length: n }, () => (rng.uniform() < 0.8 ? 1 : 0));
  const coords = (v: number) => [Math.floor(v / 99), Math.floor(v / 11) % 9, v % 11] as const;
  for (const [mode2d, res] of [
    [true, [1, 1, 1]],
    [false, [5, 2, 1]],
  ] as const) {
    const got = distanceTransform(inside, shape, { mode2d, resolution: [...res] });
    for (let v = 0; v < n; v++) {
      const [z, y, x] = coords(v);
      let best = Infinity;
      for (let u = 0; u < n; u++) {
        if (inside[u]) continue;
        const [zu, yu, xu] = coords(u);
        if (mode2d && zu !== z) continue;
        const d2 = ((z - zu) * res[0]) ** 2 + ((y - yu) * res[1]) ** 2 + ((x - xu) * res[2]) ** 2;
        best = Math.min(best, d2);
      }
      const want = inside[v] ? Math.sqrt(best) : 0;
      assert.ok(Math.abs(got[v]! - want) < 1e-4, `mode2d ${mode2d} voxel ${v}: ${got[v]} vs ${want}`);
    }
  }
});

test('intensity affinities: smoothing keeps a constant image; a dark pixel weakens its edges', () => {
  const shape: Shape3 = [1, 5, 5];
  const flat = new Float32Array(25).fill(0.7);
  assert.ok(gaussianSmooth(flat, shape, 1.5).every((v) => Math.abs(v - 0.7) < 1e-6));
  const img = new Float32Array(25).fill(1);
  img[12] = 0; // centre
  const aff = intensityAffinities(img, shape, { sigma: 0 });
  const n = 25;
  assert.is(aff[n + 12], 0, 'y edge (centre, above)');
  assert.is(aff[n + 17], 0, 'y edge (below, centre)');
  assert.is(aff[2 * n + 12], 0, 'x edge (centre, left)');
  assert.is(aff[2 * n + 6], 1, 'an edge away from the dark pixel');
  assert.is(aff[12], 0, 'no z neighbour in a single section');
});

/** A noisy boundary map of a synthetic volume as node affinities (min of the two voxels' 1 - boundary). */
function noisyNodeAffinities(seed: number): { aff: Float32Array; labels: Uint32Array; shape: Shape3 } {
  const shape: Shape3 = [2, 96, 96];
  const { labels } = generateSynthetic({ shape, seed });
  const b = labelsToBoundary(labels);
  const rng = Rng.fromSeed(seed + 100);
  const noise = gaussianSmooth(
    Float32Array.from({ length: b.length }, () => rng.normal()),
    shape,
    1,
  );
  const smooth = gaussianSmooth(Float32Array.from(b), shape, 1);
  const value = Float32Array.from(smooth, (s, i) => Math.min(1, Math.max(0, 1 - s + 0.25 * noise[i]!)));
  return { aff: intensityAffinities(value, shape, { sigma: 0 }), labels: labels.data, shape };
}

test('noisy boundaries: local-minimum seeds over-split, h-minima seeds do not (VOI split of the fragments)', () => {
  const { aff, labels, shape } = noisyNodeAffinities(7);
  const split = (opts: Parameters<typeof watershed>[2]) => {
    const f = watershed(aff, shape, { mode2d: true, ...opts });
    return evaluateSegmentation(labels, f.labels, { shape, mode2d: true });
  };
  const every = split({ seeds: 'hminima', seedH: 0 }); // every local minimum seeds a fragment
  const robust = split({ seeds: 'hminima', seedH: 0.2 });
  assert.ok(every.voi_split > 1, `local minima: VOI split ${every.voi_split}`);
  assert.ok(robust.voi_split < every.voi_split / 3, `h-minima ${robust.voi_split} vs ${every.voi_split}`);
  assert.ok(robust.voi_merge < 0.3, `h-minima does not merge objects: VOI merge ${robust.voi_merge}`);
});

test('parameters are chosen on validation: test labels never change the choice', () => {
  const config = resolveConfig({
    eval: { mode2d: true, minSize: 0, seedH: [0.05, 0.2], thresholds: [0.2, 0.5, 0.8] },
  });
  const vol = (seed: number) => {
    const { raw, labels } = generateSynthetic({ shape: [2, 64, 64], seed });
    return { raw, labels };
  };
  const valid = vol(1);
  const test0 = vol(2);
  // A test volume whose ground truth says "everything is one object": on test the most merging
  // parameters would win, validation disagrees.
  const merged = {
    raw: test0.raw,
    labels: { ...test0.labels, data: new Uint32Array(test0.labels.data.length).fill(1) },
  };
  const fromValid = chooseSegmentation(
    {
      affinities: intensityAffinities(valid.raw.data, valid.raw.shape, { sigma: 1 }),
      shape: valid.raw.shape,
      labels: valid.labels.data,
      mode2d: true,
    },
    { seeds: 'hminima', seedH: [0.05, 0.2], thresholds: [0.2, 0.5, 0.8] },
  ).best;
  const testAff = intensityAffinities(test0.raw.data, test0.raw.shape, { sigma: 1 });
  const onTest = [0.05, 0.2]
    .flatMap((h) =>
      scoreSweep(
        { affinities: testAff, shape: test0.raw.shape, labels: merged.labels.data, mode2d: true },
        'hminima',
        h,
        [0.2, 0.5, 0.8],
      ),
    )
    .reduce((a, b) => (b.scores.voi_sum < a.scores.voi_sum ? b : a));
  assert.ok(
    onTest.threshold !== fromValid.threshold || onTest.seedH !== fromValid.seedH,
    'the fixture must make test and validation disagree',
  );
  for (const t of [test0, merged]) {
    const c = learningFreeControl(valid, t, config);
    assert.is(c.validation.threshold, fromValid.threshold);
    assert.is(c.validation.seedH, fromValid.seedH);
    assert.is(c.test.threshold, fromValid.threshold);
    assert.is(c.test.seedH, fromValid.seedH);
    // the row's test score is the test volume segmented once with the validation choice
    const applied = applySegmentation(
      { affinities: testAff, shape: t.raw.shape, labels: t.labels.data, mode2d: true },
      fromValid,
    );
    assert.is(c.test.voi_sum, applied.scores.voi_sum);
    assert.is(c.test.arand, applied.scores.arand);
  }
});

test.run();

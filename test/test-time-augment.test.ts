import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/core/rng.js';
import type { Shape3 } from '../src/data/types.js';
import type { AffinityPredictor } from '../src/tasks/segmentation/predict.js';
import { SQUARE_SYMMETRIES, testTimeAugmented } from '../src/tasks/segmentation/test-time-augment.js';

/*
 * Test-time augmentation maps each augmented prediction back to the original frame. A predictor that
 * is exactly equivariant (its affinities are a function of the two voxels an edge joins) must come out
 * unchanged, which a wrong flip, a missing one-voxel edge shift or an unswapped channel would break.
 */

const crop: Shape3 = [2, 6, 6];

/** Affinity of an edge = 1 - |raw(v) - raw(neighbour at -1)|, 0 where there is no neighbour. */
function edgePredictor(bias = 0): AffinityPredictor {
  const [d, h, w] = crop;
  const vol = d * h * w;
  return {
    crop,
    predict(raw: Float32Array, n: number): Float32Array {
      const out = new Float32Array(n * 3 * vol);
      for (let b = 0; b < n; b++)
        for (let z = 0; z < d; z++)
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const i = (z * h + y) * w + x;
              const v = raw[b * vol + i]!;
              const nb = [z > 0 ? i - h * w : -1, y > 0 ? i - w : -1, x > 0 ? i - 1 : -1];
              // `bias` breaks the symmetry: a predictor that prefers the top-left corner
              for (let c = 0; c < 3; c++)
                out[(b * 3 + c) * vol + i] =
                  nb[c]! < 0 ? 0 : 1 - Math.abs(v - raw[b * vol + nb[c]!]!) + bias * (y + x === 1 ? 1 : 0);
            }
      return out;
    },
  };
}

function randomWindows(n: number): Float32Array {
  const rng = Rng.fromSeed(7);
  return Float32Array.from({ length: n * crop[0] * crop[1] * crop[2] }, () => rng.uniform());
}

test('the 8 symmetries of the square are distinct, identity first', () => {
  assert.is(SQUARE_SYMMETRIES.length, 8);
  assert.equal(SQUARE_SYMMETRIES[0], { flipY: false, flipX: false, transpose: false });
  assert.is(new Set(SQUARE_SYMMETRIES.map((s) => JSON.stringify(s))).size, 8);
});

test('an equivariant predictor is unchanged by test-time augmentation (edges, flips, y-x swap)', () => {
  const p = edgePredictor();
  const raw = randomWindows(3);
  const base = p.predict(raw, 3);
  const tta = testTimeAugmented(p).predict(raw, 3);
  assert.is(tta.length, base.length);
  for (let i = 0; i < base.length; i++) assert.ok(Math.abs(tta[i]! - base[i]!) < 1e-6, `voxel ${i}`);
});

test('a predictor that is not equivariant is averaged over the symmetries', () => {
  const p = edgePredictor(0.5);
  const raw = randomWindows(1);
  const base = p.predict(raw, 1);
  const tta = testTimeAugmented(p).predict(raw, 1);
  let diff = 0;
  for (let i = 0; i < base.length; i++) diff = Math.max(diff, Math.abs(tta[i]! - base[i]!));
  assert.ok(diff > 0.1, `max difference ${diff}`);
  // the corner preference is spread over the 8 images of the corner: a fraction of it stays there
  const vol = crop[0] * crop[1] * crop[2];
  const yEdgeAt10 = vol + 1 * crop[2] + 0; // channel y, z 0, (y 1, x 0)
  const unbiased = edgePredictor().predict(raw, 1);
  const kept = tta[yEdgeAt10]! - unbiased[yEdgeAt10]!;
  assert.ok(kept > 0 && kept <= 0.5 / 4 + 1e-6, `bias kept ${kept} of 0.5`);
});

test('a window that is not square in-plane is an error naming the fix', () => {
  const p: AffinityPredictor = { crop: [2, 4, 6], predict: () => new Float32Array(0) };
  assert.throws(() => testTimeAugmented(p), /square.*testTimeAugment/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { slidingWindowPredict, windowStarts, blendRamp } from '../src/tasks/segmentation/sliding-window.js';
import type { Shape3 } from '../src/data/types.js';

function ramp(shape: Shape3): Float32Array {
  const v = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.37) + i * 1e-3;
  return v;
}

test('window starts cover the axis and end at the border', () => {
  assert.equal(windowStarts(10, 16, 0.5), [0]);
  assert.equal(windowStarts(64, 64, 0.5), [0]);
  assert.equal(windowStarts(100, 64, 0.5), [0, 32, 36]);
  assert.equal(windowStarts(128, 64, 0), [0, 64]);
  const r = blendRamp(8);
  assert.ok(r.every((v) => v > 0 && v <= 1));
  assert.ok(Math.abs(r[0]! - r[7]!) < 1e-6);
});

test('identity predictor reproduces the volume exactly, in every channel, with padding', async () => {
  const shape: Shape3 = [10, 40, 37]; // z smaller than the window: edge padding
  const vol = ramp(shape);
  let calls = 0;
  const out = await slidingWindowPredict(
    vol,
    shape,
    (w, n) => {
      calls++;
      const size = w.length / n;
      const o = new Float32Array(n * 2 * size);
      for (let i = 0; i < n; i++) {
        o.set(w.subarray(i * size, (i + 1) * size), i * 2 * size);
        for (let k = 0; k < size; k++) o[(i * 2 + 1) * size + k] = 2 * w[i * size + k]!;
      }
      return o;
    },
    { window: [16, 16, 16], channels: 2, overlap: 0.5, batch: 3 },
  );
  const n = vol.length;
  let maxErr = 0;
  for (let v = 0; v < n; v++) {
    maxErr = Math.max(maxErr, Math.abs(out[v]! - vol[v]!), Math.abs(out[n + v]! - 2 * vol[v]!));
  }
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  assert.ok(calls >= 1);
});

test('blending is a weighted mean: constant-per-window predictions give values between them', async () => {
  const shape: Shape3 = [4, 8, 24];
  const vals: number[] = [];
  const out = await slidingWindowPredict(
    new Float32Array(4 * 8 * 24),
    shape,
    (_w, n) => {
      const o = new Float32Array(n * 4 * 8 * 8);
      for (let i = 0; i < n; i++) {
        const v = vals.length;
        vals.push(v);
        o.fill(v, i * 256, (i + 1) * 256);
      }
      return o;
    },
    { window: [4, 8, 8], channels: 1, overlap: 0.5, batch: 1 },
  );
  // x starts: 0, 4, 8, 12, 16 -> windows 0..4; voxel x=0 only in window 0, x=23 only in window 4
  assert.is(out[0], 0);
  assert.is(out[23], 4);
  assert.ok(out[6]! > 0 && out[6]! < 2);
});

test('bad inputs are clear errors', async () => {
  let msg = '';
  try {
    await slidingWindowPredict(new Float32Array(5), [1, 2, 3], () => new Float32Array(0), {
      window: [1, 2, 3],
      channels: 1,
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /volume has 5 voxels, shape \[1,2,3\] needs 6/);
  msg = '';
  try {
    await slidingWindowPredict(new Float32Array(6), [1, 2, 3], () => new Float32Array(1), {
      window: [1, 2, 3],
      channels: 1,
    });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /predictor returned 1 values, expected 6/);
});

test.run();

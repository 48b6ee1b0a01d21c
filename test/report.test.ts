import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inflateSync } from 'node:zlib';
import { encodePng, grayToRgb, overlay, hstack, labelColor } from '../src/tasks/report/png.js';
import { lineChart, histogramChart } from '../src/tasks/report/svg.js';

test('png: header, size and pixels decode back', () => {
  const w = 3;
  const h = 2;
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  const png = encodePng(rgb, w, h);
  assert.equal(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const v = new DataView(png.buffer, png.byteOffset);
  assert.is(v.getUint32(16), w);
  assert.is(v.getUint32(20), h);
  const idatLen = v.getUint32(33);
  assert.is(String.fromCharCode(...png.subarray(37, 41)), 'IDAT');
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  assert.is(raw.length, h * (w * 3 + 1));
  assert.equal(Array.from(raw.subarray(1, 10)), Array.from(rgb.subarray(0, 9)));
  assert.equal(Array.from(raw.subarray(11, 20)), Array.from(rgb.subarray(9, 18)));
  assert.throws(() => encodePng(rgb, 4, 2), /18 bytes for 4x2/);
});

test('png helpers: gray, overlay, hstack, label colours', () => {
  const rgb = grayToRgb(new Float32Array([0, 1]), 2, 1);
  assert.equal(Array.from(rgb), [0, 0, 0, 255, 255, 255]);
  const o = overlay(rgb, new Uint8Array([1, 0]), [255, 0, 0], 0.5);
  assert.equal(Array.from(o), [128, 0, 0, 255, 255, 255]);
  const s = hstack(
    [
      { rgb, width: 2 },
      { rgb, width: 2 },
    ],
    1,
    1,
  );
  assert.is(s.width, 5);
  assert.equal(Array.from(s.rgb.subarray(6, 9)), [255, 255, 255]);
  assert.equal(labelColor(0), [0, 0, 0]);
  assert.equal(labelColor(7), labelColor(7));
  assert.not.equal(labelColor(7), labelColor(8));
});

test('svg charts: one polyline per series, legend names escaped, bars per bin', () => {
  const svg = lineChart(
    [
      { name: 'a<b', x: [0, 1, 2], y: [1, 0.5, 0.25] },
      { name: 'c', x: [0, 1], y: [2, NaN] },
    ],
    { title: 'loss', xLabel: 'step', yLabel: 'mse' },
  );
  assert.is((svg.match(/<polyline/g) ?? []).length, 2);
  assert.ok(svg.includes('a&lt;b'));
  assert.ok(svg.startsWith('<svg'));
  const h = histogramChart([{ name: 'r', values: [0.1, 0.2, 0.75, 0.8] }], {
    title: 'ratio',
    xLabel: 'ratio',
    bins: 4,
    range: [0, 1],
  });
  assert.is(
    (h.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#1f77b4"\/>/g) ?? []).length,
    4 + 1,
  );
});

test.run();

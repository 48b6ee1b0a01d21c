/*
 * Small SVG charts for reports (line charts and bar histograms), written by hand: no plotting dependency
 * and files that any browser or Markdown viewer shows.
 */

export interface Series {
  name: string;
  /** x values (e.g. steps) and y values of equal length. */
  x: number[];
  y: number[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.01 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function axes(
  f: Frame,
  title: string,
  xLabel: string,
  yLabel: string,
  xr: [number, number],
  yr: [number, number],
): string[] {
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const out = [
    `<text x="${f.width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${f.left + pw / 2}" y="${f.height - 4}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`,
    `<text x="12" y="${f.top + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${f.top + ph / 2})">${esc(yLabel)}</text>`,
  ];
  for (const t of ticks(xr[0], xr[1])) {
    const x = f.left + ((t - xr[0]) / (xr[1] - xr[0] || 1)) * pw;
    out.push(`<text x="${x}" y="${f.top + ph + 14}" text-anchor="middle" font-size="10">${fmt(t)}</text>`);
  }
  for (const t of ticks(yr[0], yr[1])) {
    const y = f.top + ph - ((t - yr[0]) / (yr[1] - yr[0] || 1)) * ph;
    out.push(`<text x="${f.left - 4}" y="${y + 3}" text-anchor="end" font-size="10">${fmt(t)}</text>`);
    out.push(`<line x1="${f.left}" x2="${f.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
  }
  return out;
}

function wrap(f: Frame, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** A line chart of several series with a legend. */
export function lineChart(
  series: Series[],
  opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number },
): string {
  const f: Frame = {
    width: opts.width ?? 640,
    height: opts.height ?? 360,
    left: 56,
    right: 130,
    top: 26,
    bottom: 34,
  };
  const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const xr: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const yr: [number, number] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (yr[0] === yr[1]) yr[1] = yr[0] + 1;
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const body = axes(f, opts.title, opts.xLabel, opts.yLabel, xr, yr);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.x
      .map((x, j) => [x, s.y[j]!] as const)
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(
        ([x, y]) =>
          `${(f.left + ((x - xr[0]) / (xr[1] - xr[0] || 1)) * pw).toFixed(1)},${(f.top + ph - ((y - yr[0]) / (yr[1] - yr[0])) * ph).toFixed(1)}`,
      );
    body.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    body.push(
      `<rect x="${f.width - f.right + 10}" y="${f.top + 14 * i}" width="10" height="10" fill="${color}"/>`,
    );
    body.push(
      `<text x="${f.width - f.right + 24}" y="${f.top + 14 * i + 9}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return wrap(f, body);
}

/** Grouped histograms: one bar group per bin, one colour per series (counts normalized to fractions). */
export function histogramChart(
  series: { name: string; values: number[] }[],
  opts: {
    title: string;
    xLabel: string;
    bins?: number;
    range?: [number, number];
    width?: number;
    height?: number;
  },
): string {
  const bins = opts.bins ?? 12;
  const all = series.flatMap((s) => s.values);
  const [lo, hi] = opts.range ?? [Math.min(0, ...all), Math.max(1, ...all)];
  const f: Frame = {
    width: opts.width ?? 640,
    height: opts.height ?? 320,
    left: 56,
    right: 130,
    top: 26,
    bottom: 34,
  };
  const counts = series.map((s) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of s.values)
      c[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo || 1)) * bins)))]! += 1;
    return c.map((x) => x / Math.max(1, s.values.length));
  });
  const ymax = Math.max(0.01, ...counts.flat());
  const body = axes(f, opts.title, opts.xLabel, 'fraction', [lo, hi], [0, ymax]);
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const bw = pw / bins / Math.max(1, series.length);
  counts.forEach((c, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    c.forEach((v, b) => {
      const h = (v / ymax) * ph;
      body.push(
        `<rect x="${(f.left + (b * pw) / bins + si * bw).toFixed(1)}" y="${(f.top + ph - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"/>`,
      );
    });
    body.push(
      `<rect x="${f.width - f.right + 10}" y="${f.top + 14 * si}" width="10" height="10" fill="${color}"/>`,
    );
    body.push(
      `<text x="${f.width - f.right + 24}" y="${f.top + 14 * si + 9}" font-size="11">${esc(series[si]!.name)}</text>`,
    );
  });
  return wrap(f, body);
}

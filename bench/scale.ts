/*
 * `scale` line: does the cost grow linearly with the volume? `npm run bench -- --only scale`, or
 * `node --import tsx bench/scale.ts`. Time and peak memory of
 * - `segment` (what `dbmim segment` runs: read affinities, xy fragments, 3D agglomeration, 2 thresholds,
 *   write) on the learning-free boundary map of a synthetic volume (smoothed intensity affinities), and
 * - `predict` (what `dbmim predict` runs: streamed from a raw file to an affinity file; the tiny affinity
 *   network with random weights, since speed and memory do not depend on them)
 * at two sizes. Each size runs in a child process of its own, which reports its own peak RSS; inputs are
 * written beforehand by another child, so the measured process holds only what the command holds. The
 * children load h5wasm before the TypeScript loader registers its hooks (see H5WASM_PRELOAD).
 * Printed: seconds (wall and CPU), peak RSS, and the time exponent log(t2/t1) / log(v2/v1) (1 = linear;
 * CPU time is the steadier figure on a shared machine) of the whole child and, for segment, of the
 * segmentation stage alone (`stageExponentCpu`); for predict the peak-RSS ratio (1 = memory independent
 * of the volume). Run directly, `node --import tsx bench/scale.ts segment` (or `predict`) runs one task.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Shape3 } from '../src/data/types.js';

const SEGMENT_SIZES: Shape3[] = [
  [16, 512, 512],
  [32, 1024, 1024],
];
const PREDICT_SIZES: Shape3[] = [
  [16, 256, 256],
  [32, 512, 512],
];
const THRESHOLDS = [0.3, 0.5]; // mean-affinity merge thresholds of the segment runs
const SMOOTH_SIGMA = 1; // in-plane smoothing of the raw before intensity affinities (voxels)
const PREDICT_TILE = 256; // in-plane tile of the streamed predict: the larger volume has 2 x 2 tiles
const PREDICT_OVERLAP = 0; // window overlap: memory does not depend on it, time does
const PREDICT_BATCH = 4; // windows per forward pass

interface ChildReport {
  seconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  baseRssMB: number;
  [k: string]: unknown;
}

const self = fileURLToPath(import.meta.url);

// Loaded through tsx's hooks, h5wasm's 4 MB module costs ~6 s and ~600 MB of RSS in the loader (the
// built CLI pays neither), and whether that memory is still held when the command peaks depends on GC
// timing: peaks then differed by 400 MB between two runs of one size. Imported before tsx registers,
// the module is loaded as the CLI loads it, and later imports reuse it.
const H5WASM_PRELOAD = `data:text/javascript,await import(${JSON.stringify(import.meta.resolve('h5wasm/node'))});`;

/** Run this file as a child with one task; its last stdout line is its JSON report. */
function child(task: string, args: string[]): ChildReport {
  const argv = ['--import', H5WASM_PRELOAD, ...process.execArgv, self, '--child', task, ...args];
  const out = execFileSync(process.execPath, argv, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as ChildReport;
}

const shapeArg = (s: Shape3): string => s.join('x');
const parseShape = (s: string): Shape3 => s.split('x').map(Number) as Shape3;
const voxels = (s: Shape3): number => s[0] * s[1] * s[2];
const round = (x: number, d = 2): number => Number(x.toFixed(d));
const exponent = (t1: number, t2: number, v1: number, v2: number): number =>
  round(Math.log(t2 / t1) / Math.log(v2 / v1), 3);

const TASKS = ['segment', 'predict'] as const;
type Task = (typeof TASKS)[number];

/** Rows for bench/run.ts: one per (task, size), then one summary row per task (by default both tasks). */
export async function benchScale(tasks: readonly Task[] = TASKS): Promise<object[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dbmim-scale-'));
  const rows: object[] = [];
  try {
    for (const task of tasks) {
      const sizes = task === 'segment' ? SEGMENT_SIZES : PREDICT_SIZES;
      const reports: ChildReport[] = [];
      for (const shape of sizes) {
        const input = join(dir, `${task}-${shapeArg(shape)}.h5`);
        child(task === 'segment' ? 'write-affinities' : 'write-raw', [shapeArg(shape), input]);
        const r = child(task, [shapeArg(shape), input, join(dir, `${task}-${shapeArg(shape)}-out.h5`)]);
        reports.push(r);
        // the machine's 1-minute load after the run: on a shared machine the figures depend on it
        const load1 = round(loadavg()[0]!);
        rows.push({ bench: 'scale', task, volume: shapeArg(shape), voxels: voxels(shape), ...r, load1 });
        rmSync(input, { force: true });
      }
      const [a, b] = reports as [ChildReport, ChildReport];
      const [v1, v2] = sizes.map(voxels) as [number, number];
      rows.push({
        bench: 'scale',
        task,
        summary: `${shapeArg(sizes[0]!)} -> ${shapeArg(sizes[1]!)} (${round(v2 / v1, 1)}x voxels)`,
        timeExponentCpu: exponent(a.cpuSeconds, b.cpuSeconds, v1, v2),
        // segment: the segmentation stage alone (reading and writing the files left out)
        ...(task === 'segment'
          ? {
              stageExponentCpu: exponent(Number(a.segmentCpuSeconds), Number(b.segmentCpuSeconds), v1, v2),
              stageExponentWall: exponent(Number(a.segmentSeconds), Number(b.segmentSeconds), v1, v2),
            }
          : {}),
        timeExponentWall: exponent(a.seconds, b.seconds, v1, v2),
        peakRssRatio: round(b.peakRssMB / a.peakRssMB, 3),
        // the measured step's own peak (above the process's resident memory before it)
        stepPeakRatio: round((b.peakRssMB - b.baseRssMB) / (a.peakRssMB - a.baseRssMB), 3),
        bytesPerAddedVoxel: round(((b.peakRssMB - a.peakRssMB) * 1e6) / (v2 - v1), 1),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

// ---- child tasks ----

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const peakRssMB = (): number => round(process.resourceUsage().maxRSS / 1024, 1);
// Resident memory before the measured step (modules loaded, model built): under tsx a process already
// holds ~200 MB here, so the step's own peak is peakRssMB - baseRssMB.
const rssMB = (): number => round(process.memoryUsage().rss / 1e6, 1);

async function runChild(task: string, args: string[]): Promise<object> {
  const shape = parseShape(args[0]!);
  const { generateSynthetic } = await import('../src/data/synthetic.js');
  const { writeDatasets } = await import('../src/data/hdf5.js');
  if (task === 'write-affinities') {
    const { intensityAffinities } = await import('../src/tasks/eval/intensity-affinities.js');
    const { AFFINITIES_KEY } = await import('../src/tasks/segmentation/predict.js');
    const { raw } = generateSynthetic({ shape, seed: 1 });
    const aff = intensityAffinities(raw.data, shape, { sigma: SMOOTH_SIGMA });
    await writeDatasets(args[1]!, [{ key: AFFINITIES_KEY, data: aff, shape: [3, ...shape] }], {
      compression: false,
    });
    return { seconds: 0, cpuSeconds: 0, peakRssMB: peakRssMB(), baseRssMB: 0 };
  }
  if (task === 'write-raw') {
    const { toUint8 } = await import('../src/data/hdf5.js');
    const { raw } = generateSynthetic({ shape, seed: 1 });
    await writeDatasets(args[1]!, [{ key: 'volumes/raw', data: toUint8(raw.data), shape }]);
    return { seconds: 0, cpuSeconds: 0, peakRssMB: peakRssMB(), baseRssMB: 0 };
  }
  if (task === 'segment') {
    const { segmentFile } = await import('../src/tasks/eval/files.js');
    const baseRssMB = rssMB();
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const r = await segmentFile(args[1]!, args[2]!, { thresholds: THRESHOLDS });
    return {
      seconds: round((performance.now() - t0) / 1000),
      cpuSeconds: round(cpuSeconds() - c0),
      peakRssMB: peakRssMB(),
      baseRssMB,
      segmentSeconds: round(r.segmentSeconds),
      segmentCpuSeconds: round(r.segmentCpuSeconds),
      readSeconds: round(r.readSeconds),
      writeSeconds: round(r.writeSeconds),
      segments: r.segments,
    };
  }
  if (task === 'predict') {
    const { selectBackend } = await import('../src/core/backend.js');
    const { resolveConfig } = await import('../src/core/config.js');
    const { Rng } = await import('../src/core/rng.js');
    const { AffinityNet } = await import('../src/models/affinity-net.js');
    const { predictAffinitiesToFile } = await import('../src/tasks/segmentation/predict.js');
    await selectBackend();
    const cfg = resolveConfig({ model: { preset: 'tiny' } });
    const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(0));
    try {
      let windows = 0;
      const baseRssMB = rssMB();
      const t1 = performance.now();
      const c1 = cpuSeconds();
      await predictAffinitiesToFile(net, { file: args[1]!, key: 'volumes/raw' }, args[2]!, {
        overlap: PREDICT_OVERLAP,
        batch: PREDICT_BATCH,
        tile: PREDICT_TILE,
        onProgress: (_done, total) => (windows = total),
      });
      return {
        seconds: round((performance.now() - t1) / 1000),
        cpuSeconds: round(cpuSeconds() - c1),
        peakRssMB: peakRssMB(),
        baseRssMB,
        windows,
        tile: PREDICT_TILE,
        overlap: PREDICT_OVERLAP,
      };
    } finally {
      net.dispose();
    }
  }
  throw new Error(`bench/scale.ts: unknown child task '${task}'`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--child');
  const only = process.argv[2];
  if (i >= 0) console.log(JSON.stringify(await runChild(process.argv[i + 1]!, process.argv.slice(i + 2))));
  else if (only !== undefined && !(TASKS as readonly string[]).includes(only))
    throw new Error(`bench/scale.ts: task must be one of ${TASKS.join(', ')}, got '${only}'`);
  else for (const row of await benchScale(only ? [only as Task] : TASKS)) console.log(JSON.stringify(row));
}

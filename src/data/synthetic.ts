import { InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { LabelVolume, RawVolume, Shape3 } from './types.js';
import { valueNoise2D } from './value-noise.js';

/*
 * A synthetic EM-like volume with exact ground truth.
 *
 * Objects: neurites running roughly along z. Each is the cell of a jittered-lattice seed in a per-section
 * power diagram (Voronoi with additive weights, so cells are convex and of varied size). Seeds drift with
 * a shared flow plus a small own wobble from section to section, so a cell overlaps itself in the next
 * section (3D objects elongated along z). A seed's track is cut into segments at random sections (an
 * object ends and a new one begins), each segment a new id. A smooth displacement field makes borders wavy.
 * Membranes: in-plane borders between different objects, `membraneRadius` px on each side, get label 0
 * (the CREMI/ISBI convention: boundary is not an object) and a dark intensity.
 * Organelles: dark ellipsoidal blobs inside some objects (labels keep the object's id).
 * Intensity: per-object gray level, smooth texture, a 1-2-1 blur in-plane, gaussian-like noise, optional
 * per-section xy misalignment (applied to raw and labels together, as in real stacks). Raw is quantized
 * to k / 255 by default so that writing it as uint8 and reading it back is exact.
 */

/** Options of {@link generateSynthetic}. Only `shape` and `seed` are required. */
export interface SyntheticOptions {
  /** Volume extent (z, y, x). */
  shape: Shape3;
  /** One seed makes the volume byte-identical. */
  seed: number | string;
  /** Voxel size (z, y, x) in nm. Default [40, 4, 4] (CREMI). */
  resolution?: Shape3;
  /** Seed lattice spacing in px: about one object per cellSize^2 px^2 of a section. Default 24. */
  cellSize?: number;
  /** Power-diagram weight spread as a fraction of cellSize (0 = plain Voronoi). Default 0.6. */
  sizeVariation?: number;
  /** Shared xy drift of all seeds in px per section (neurites not parallel to z). Default 0.6. */
  drift?: number;
  /** Amplitude of each seed's own sinusoidal wobble, fraction of cellSize. Default 0.15. */
  wobble?: number;
  /** Probability per section that an object ends and a new one starts on its track. Default 0.03. */
  breakProb?: number;
  /** Amplitude in px of the smooth displacement that makes borders wavy. Default 3.5. */
  warp?: number;
  /** Membrane half-width in px (a border band of 2 * radius px). Default 1. */
  membraneRadius?: number;
  /** Probability that an object segment contains an organelle blob. Default 0.35. */
  organelleProb?: number;
  /** In-plane blur passes of the 1-2-1 kernel. Default 1. */
  blur?: number;
  /** Noise standard deviation (intensity units). Default 0.05. */
  noise?: number;
  /** Texture amplitude (smooth value noise). Default 0.06. */
  texture?: number;
  /** Probability per section of an xy shift (misalignment); 0 disables. Default 0. */
  misalignProb?: number;
  /** Largest misalignment shift in px. Default 4. */
  misalignMax?: number;
  /** Round raw to k / 255 (exact uint8 round trip). Default true. */
  quantize?: boolean;
}

/** A synthetic volume: raw in [0, 1] and labels (0 = membrane). */
export interface SyntheticVolume {
  raw: RawVolume;
  labels: LabelVolume;
}

/** Gray levels of the rendered classes (before texture, blur and noise). */
const INTERIOR_MEAN = 0.68; // cytoplasm is bright in EM
const INTERIOR_SPREAD = 0.08; // per-object offset, uniform +-
const MEMBRANE_LEVEL = 0.18; // stained membranes are dark
const ORGANELLE_LEVEL = 0.38; // mitochondria / vesicle clouds: darker than cytoplasm
const ORGANELLE_RIM = 0.25; // organelle's own membrane

/** mulberry32: a tiny fast PRNG for the per-voxel noise (seeded from an Rng stream). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generate a synthetic EM volume with exact labels. Deterministic in `seed` (each purpose draws from its
 * own {@link Rng.split} stream); about 1 s for 30x512x512 on one core.
 */
export function generateSynthetic(opts: SyntheticOptions): SyntheticVolume {
  const shape = opts.shape;
  if (shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s >= 1))
    throw new InputError(`synthetic shape must be three positive integers, got [${shape.join(',')}]`, 'bad-shape');
  const [D, H, W] = shape;
  const cellSize = opts.cellSize ?? 24;
  const sizeVar = opts.sizeVariation ?? 0.6;
  const drift = opts.drift ?? 0.6;
  const wobble = (opts.wobble ?? 0.15) * cellSize;
  const breakProb = opts.breakProb ?? 0.03;
  const warp = opts.warp ?? 3.5;
  const mr = opts.membraneRadius ?? 1;
  const organelleProb = opts.organelleProb ?? 0.35;
  const blurPasses = opts.blur ?? 1;
  const noise = opts.noise ?? 0.05;
  const texture = opts.texture ?? 0.06;
  const misalignProb = opts.misalignProb ?? 0;
  const misalignMax = opts.misalignMax ?? 4;
  const quantize = opts.quantize ?? true;
  if (!(cellSize >= 4)) throw new InputError(`synthetic cellSize must be >= 4, got ${cellSize}`, 'bad-option');

  const root = Rng.fromSeed(String(opts.seed));
  const rSeeds = root.split('seeds');
  const rTracks = root.split('tracks');
  const rOrg = root.split('organelles');
  const rAlign = root.split('misalign');
  const noiseRand = mulberry32(root.split('noise').int32());
  const texRand = mulberry32(root.split('texture').int32());
  const warpRand = mulberry32(root.split('warp').int32());

  // Shared flow: one direction for the whole volume.
  const flowAngle = rSeeds.uniform(0, 2 * Math.PI);
  const vx = drift * Math.cos(flowAngle);
  const vy = drift * Math.sin(flowAngle);

  // Per-section misalignment (x, y) shifts, cumulative like a drifting alignment error.
  const shiftX = new Int32Array(D);
  const shiftY = new Int32Array(D);
  for (let z = 0; z < D; z++) {
    if (misalignProb > 0 && rAlign.bernoulli(misalignProb)) {
      shiftX[z] = Math.round(rAlign.uniform(-misalignMax, misalignMax));
      shiftY[z] = Math.round(rAlign.uniform(-misalignMax, misalignMax));
    }
  }

  // Seed lattice in the flow frame: covers the section plus the total drift plus a margin.
  const margin = 3 * cellSize + warp + misalignMax;
  const x0 = -margin + Math.min(0, -vx * D);
  const y0 = -margin + Math.min(0, -vy * D);
  const gw = Math.ceil((W + 2 * margin + Math.abs(vx) * D) / cellSize) + 1;
  const gh = Math.ceil((H + 2 * margin + Math.abs(vy) * D) / cellSize) + 1;
  const nSeeds = gw * gh;
  const jx = new Float32Array(nSeeds);
  const jy = new Float32Array(nSeeds);
  const w2 = new Float32Array(nSeeds); // power-diagram weight (squared radius)
  const wobA = new Float32Array(nSeeds);
  const wobP = new Float32Array(nSeeds);
  const wobF = new Float32Array(nSeeds);
  for (let s = 0; s < nSeeds; s++) {
    jx[s] = rSeeds.uniform(0.15, 0.85) * cellSize;
    jy[s] = rSeeds.uniform(0.15, 0.85) * cellSize;
    const r = rSeeds.uniform(0, sizeVar) * cellSize;
    w2[s] = r * r;
    wobA[s] = rSeeds.uniform(0, wobble);
    wobP[s] = rSeeds.uniform(0, 2 * Math.PI);
    wobF[s] = rSeeds.uniform(0.05, 0.25); // radians per section
  }

  // Segments: id of seed s in section z = segStart[s] + number of breaks on s's track up to z.
  const segStart = new Uint32Array(nSeeds);
  const breaks: number[][] = [];
  let nextId = 1;
  for (let s = 0; s < nSeeds; s++) {
    segStart[s] = nextId;
    const b: number[] = [];
    for (let z = 1; z < D; z++) if (rTracks.bernoulli(breakProb)) b.push(z);
    breaks.push(b);
    nextId += b.length + 1;
  }
  const nIds = nextId;
  // Per-object gray level and organelles (id-indexed).
  const idLevel = new Float32Array(nIds);
  for (let id = 1; id < nIds; id++) idLevel[id] = INTERIOR_MEAN + rOrg.uniform(-INTERIOR_SPREAD, INTERIOR_SPREAD);

  // Wavy borders: a smooth displacement field fixed over z (objects stay aligned between sections).
  const warpX = valueNoise2D(H, W, 16, warpRand);
  const warpY = valueNoise2D(H, W, 16, warpRand);

  const labels = new Uint32Array(D * H * W);
  const owner = new Int32Array(H * W); // seed index per pixel of the current section
  const segOf = new Uint32Array(nSeeds); // id of each seed in the current section
  const sx = new Float32Array(nSeeds);
  const sy = new Float32Array(nSeeds);

  for (let z = 0; z < D; z++) {
    // Seed positions in this section (image frame) and their current ids.
    for (let s = 0; s < nSeeds; s++) {
      const gi = s % gw;
      const gj = Math.floor(s / gw);
      const wob = wobA[s]! * Math.sin(wobP[s]! + wobF[s]! * z);
      sx[s] = x0 + gi * cellSize + jx[s]! + vx * z + wob * Math.cos(wobP[s]!) + shiftX[z]!;
      sy[s] = y0 + gj * cellSize + jy[s]! + vy * z + wob * Math.sin(wobP[s]!) + shiftY[z]!;
      let k = 0;
      const b = breaks[s]!;
      while (k < b.length && b[k]! <= z) k++;
      segOf[s] = segStart[s]! + k;
    }
    // Power diagram: each pixel goes to the seed minimizing |p - s|^2 - w2, searched in the 5x5 lattice
    // cells around the pixel's cell in the (drifting) lattice frame.
    const fx = vx * z + shiftX[z]!;
    const fy = vy * z + shiftY[z]!;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const px = x + warp * warpX[p]!;
        const py = y + warp * warpY[p]!;
        const ci = Math.floor((px - fx - x0) / cellSize);
        const cj = Math.floor((py - fy - y0) / cellSize);
        let best = Infinity;
        let bestS = 0;
        for (let dj = -2; dj <= 2; dj++) {
          const j = cj + dj;
          if (j < 0 || j >= gh) continue;
          for (let di = -2; di <= 2; di++) {
            const i = ci + di;
            if (i < 0 || i >= gw) continue;
            const s = j * gw + i;
            const ddx = px - sx[s]!;
            const ddy = py - sy[s]!;
            const dist = ddx * ddx + ddy * ddy - w2[s]!;
            if (dist < best) {
              best = dist;
              bestS = s;
            }
          }
        }
        owner[p] = bestS;
      }
    }
    // Labels with membranes: a pixel whose in-plane neighbour within mr px (along y or x) belongs to
    // another object is membrane (label 0).
    const base = z * H * W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const id = segOf[owner[p]!]!;
        let border = false;
        for (let r = 1; r <= mr && !border; r++) {
          if (x + r < W && segOf[owner[p + r]!] !== id) border = true;
          else if (x - r >= 0 && segOf[owner[p - r]!] !== id) border = true;
          else if (y + r < H && segOf[owner[p + r * W]!] !== id) border = true;
          else if (y - r >= 0 && segOf[owner[p - r * W]!] !== id) border = true;
        }
        labels[base + p] = border ? 0 : id;
      }
    }
  }

  // Intensity: object level, membrane level.
  const raw = new Float32Array(D * H * W);
  for (let i = 0; i < raw.length; i++) {
    const id = labels[i]!;
    raw[i] = id === 0 ? MEMBRANE_LEVEL : idLevel[id]!;
  }

  // Organelles: for some object segments, a dark ellipsoid around the seed's track, drawn only on that
  // object's own voxels (so it never crosses a membrane) and with a darker rim.
  for (let s = 0; s < nSeeds; s++) {
    const b = breaks[s]!;
    const bounds = [0, ...b, D];
    for (let k = 0; k + 1 < bounds.length; k++) {
      if (!rOrg.bernoulli(organelleProb)) continue;
      const id = segStart[s]! + k;
      const zc = rOrg.uniform(bounds[k]!, bounds[k + 1]!);
      const rz = rOrg.uniform(1, 4); // sections
      const rxy = rOrg.uniform(0.12, 0.28) * cellSize; // px
      const ox = rOrg.uniform(-0.2, 0.2) * cellSize;
      const oy = rOrg.uniform(-0.2, 0.2) * cellSize;
      const z0 = Math.max(0, Math.ceil(zc - rz));
      const z1 = Math.min(D - 1, Math.floor(zc + rz));
      for (let z = z0; z <= z1; z++) {
        const f = 1 - ((z - zc) / rz) ** 2;
        if (f <= 0) continue;
        const r = rxy * Math.sqrt(f);
        const wob = wobA[s]! * Math.sin(wobP[s]! + wobF[s]! * z);
        const cx =
          x0 + (s % gw) * cellSize + jx[s]! + vx * z + wob * Math.cos(wobP[s]!) + shiftX[z]! + ox;
        const cy =
          y0 + Math.floor(s / gw) * cellSize + jy[s]! + vy * z + wob * Math.sin(wobP[s]!) + shiftY[z]! + oy;
        const ya = Math.max(0, Math.floor(cy - r));
        const yb = Math.min(H - 1, Math.ceil(cy + r));
        const xa = Math.max(0, Math.floor(cx - r));
        const xb = Math.min(W - 1, Math.ceil(cx + r));
        for (let y = ya; y <= yb; y++) {
          for (let x = xa; x <= xb; x++) {
            const i = (z * H + y) * W + x;
            if (labels[i] !== id) continue;
            const d = Math.hypot(x - cx, y - cy);
            if (d <= r) raw[i] = d > r - 1.2 ? ORGANELLE_RIM : ORGANELLE_LEVEL;
          }
        }
      }
    }
  }

  // Texture (smooth, per section), blur (1-2-1 in y and x), noise; clamp; quantize.
  const tmp = new Float32Array(H * W);
  for (let z = 0; z < D; z++) {
    const base = z * H * W;
    if (texture > 0) {
      const t = valueNoise2D(H, W, 6, texRand);
      for (let p = 0; p < H * W; p++) raw[base + p]! += texture * t[p]!;
    }
    for (let pass = 0; pass < blurPasses; pass++) {
      for (let y = 0; y < H; y++) {
        const row = base + y * W;
        for (let x = 0; x < W; x++) {
          const l = raw[row + Math.max(0, x - 1)]!;
          const r = raw[row + Math.min(W - 1, x + 1)]!;
          tmp[y * W + x] = 0.25 * l + 0.5 * raw[row + x]! + 0.25 * r;
        }
      }
      for (let y = 0; y < H; y++) {
        const u = Math.max(0, y - 1) * W;
        const d = Math.min(H - 1, y + 1) * W;
        for (let x = 0; x < W; x++)
          raw[base + y * W + x] = 0.25 * tmp[u + x]! + 0.5 * tmp[y * W + x]! + 0.25 * tmp[d + x]!;
      }
    }
  }
  // Sum of 4 uniforms, centred and scaled: variance 4/12 -> std 1 after * sqrt(3).
  const k = noise * Math.sqrt(3);
  for (let i = 0; i < raw.length; i++) {
    const n = noiseRand() + noiseRand() + noiseRand() + noiseRand() - 2;
    let v = raw[i]! + k * n;
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    raw[i] = quantize ? Math.round(v * 255) / 255 : v;
  }

  const resolution: Shape3 = opts.resolution ? [...opts.resolution] : [40, 4, 4];
  return {
    raw: { data: raw, shape: [D, H, W], resolution },
    labels: { data: labels, shape: [D, H, W], resolution: [...resolution] },
  };
}

import { InputError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { obsFeature } from '../../env/observation-layout.js';
import { HeuristicAgent, type EnvChoice, type EnvView } from './heuristic-agent.js';

/** Options of the block (cuboid) policy. */
export interface BlockOptions {
  /** Share of patches to mask (default 0.75). */
  ratio?: number;
  /** Largest block side as a fraction of the grid side per axis (default 0.5). */
  maxSideFraction?: number;
  /** Fixed block sides (z, y, x) in patches instead of random ones (default: random). */
  blockSize?: [number, number, number] | null;
  /** Failed placements (a block that would overshoot k) before the last block is trimmed (default 20). */
  maxAttempts?: number;
}

/** Patch-grid coordinates of an env's agents from their normalized z, y, x (distinct values per axis). */
export function gridFromPositions(v: EnvView): { dims: [number, number, number]; coords: Int32Array } {
  const axes = ['z', 'y', 'x'] as const;
  const coords = new Int32Array(v.numAgents * 3);
  const dims: [number, number, number] = [1, 1, 1];
  axes.forEach((axis, a) => {
    const vals = Array.from({ length: v.numAgents }, (_, i) => obsFeature(v.obs, v.obsDim, i, axis));
    const distinct = [...new Set(vals.map((x) => Math.round(x * 1e5)))].sort((p, q) => p - q);
    dims[a] = distinct.length;
    vals.forEach((x, i) => (coords[i * 3 + a] = distinct.indexOf(Math.round(x * 1e5))));
  });
  if (dims[0] * dims[1] * dims[2] !== v.numAgents)
    throw new InputError(
      `block: agent positions do not form a full grid (${dims.join('x')} distinct z,y,x values for ${v.numAgents} agents)`,
    );
  return { dims, coords };
}

/**
 * Block masking (BEiT's blockwise masking in 3D): add random cuboids of patches (sides up to
 * maxSideFraction of the grid per axis) while they fit in the budget k; when maxAttempts blocks in a row
 * would overshoot, the last one is trimmed (filled in raster order up to k). Grid positions come from
 * the observation's normalized z, y, x.
 */
export class BlockMaskAgent extends HeuristicAgent {
  readonly maxSideFraction: number;
  readonly blockSize: [number, number, number] | null;
  readonly maxAttempts: number;

  constructor(rng: Rng, opts: BlockOptions = {}) {
    super('block', opts.ratio ?? 0.75, rng);
    this.maxSideFraction = opts.maxSideFraction ?? 0.5;
    this.blockSize = opts.blockSize ?? null;
    this.maxAttempts = opts.maxAttempts ?? 20;
  }

  protected choose(v: EnvView): EnvChoice {
    const { dims, coords } = gridFromPositions(v);
    const [gz, gy, gx] = dims;
    const cellOf = new Int32Array(gz * gy * gx); // grid cell -> agent
    for (let i = 0; i < v.numAgents; i++)
      cellOf[(coords[i * 3]! * gy + coords[i * 3 + 1]!) * gx + coords[i * 3 + 2]!] = i;
    const chosen = new Uint8Array(v.numAgents);
    const priority = new Float64Array(v.numAgents);
    let count = 0;
    const mark = (i: number): void => {
      chosen[i] = 1;
      priority[i] = 2 - count / Math.max(1, v.k); // earlier blocks are wanted more
      count++;
    };
    let fails = 0;
    while (count < v.k) {
      const side = (g: number, a: number): number =>
        this.blockSize
          ? Math.min(g, this.blockSize[a]!)
          : 1 + this.rng.int(Math.max(1, Math.ceil(g * this.maxSideFraction)));
      const d = [side(gz, 0), side(gy, 1), side(gx, 2)];
      const o = [this.rng.int(gz - d[0]! + 1), this.rng.int(gy - d[1]! + 1), this.rng.int(gx - d[2]! + 1)];
      const cells: number[] = [];
      for (let z = o[0]!; z < o[0]! + d[0]!; z++)
        for (let y = o[1]!; y < o[1]! + d[1]!; y++)
          for (let x = o[2]!; x < o[2]! + d[2]!; x++) {
            const i = cellOf[(z * gy + y) * gx + x]!;
            if (!chosen[i]) cells.push(i);
          }
      if (cells.length === 0) continue;
      if (count + cells.length <= v.k || ++fails >= this.maxAttempts) {
        for (const i of cells) if (count < v.k) mark(i);
        fails = 0;
      }
    }
    for (let i = 0; i < v.numAgents; i++) if (!chosen[i]) priority[i] = this.rng.next();
    return { chosen, priority };
  }
}

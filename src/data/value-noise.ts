/**
 * Smooth 2D value noise in [-1, 1] of size h * w: uniform values on a lattice of spacing `cell` px,
 * interpolated between lattice points with a smoothstep (no creases along the lattice lines). Used for
 * synthetic textures and for the elastic augmentation's displacement field.
 */
export function valueNoise2D(h: number, w: number, cell: number, rand: () => number): Float32Array {
  const gh = Math.ceil(h / cell) + 2;
  const gw = Math.ceil(w / cell) + 2;
  const g = new Float32Array(gh * gw);
  for (let i = 0; i < g.length; i++) g[i] = rand() * 2 - 1;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const fy = y / cell;
    const iy = Math.floor(fy);
    const ty = fy - iy;
    const sy = ty * ty * (3 - 2 * ty); // smoothstep: no lattice creases
    for (let x = 0; x < w; x++) {
      const fx = x / cell;
      const ix = Math.floor(fx);
      const tx = fx - ix;
      const sx = tx * tx * (3 - 2 * tx);
      const a = g[iy * gw + ix]!;
      const b = g[iy * gw + ix + 1]!;
      const c = g[(iy + 1) * gw + ix]!;
      const d = g[(iy + 1) * gw + ix + 1]!;
      out[y * w + x] = a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
    }
  }
  return out;
}

/**
 * A binary min-heap of (priority, value) pairs on typed arrays: Float64 priorities, Int32 values, and a
 * Float64 insertion counter that breaks ties first-in first-out (so a flood over a plateau grows
 * evenly, and results never depend on heap internals). Grows by doubling. Use `-priority` for a max-heap.
 */
export class MinHeap {
  private keys: Float64Array;
  private seqs: Float64Array;
  private vals: Int32Array;
  private count = 0;
  private counter = 0;

  constructor(capacity = 1024) {
    const c = Math.max(1, capacity);
    this.keys = new Float64Array(c);
    this.seqs = new Float64Array(c);
    this.vals = new Int32Array(c);
  }

  get size(): number {
    return this.count;
  }

  /** Priority of the smallest entry (undefined when empty). */
  peekPriority(): number | undefined {
    return this.count > 0 ? this.keys[0] : undefined;
  }

  /** Value of the smallest entry (undefined when empty). */
  peekValue(): number | undefined {
    return this.count > 0 ? this.vals[0] : undefined;
  }

  push(priority: number, value: number): void {
    if (this.count === this.keys.length) this.grow();
    const keys = this.keys;
    const seqs = this.seqs;
    const vals = this.vals;
    const seq = this.counter++;
    // Sift up: move parents down until the slot fits.
    let i = this.count++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = keys[p]!;
      if (pk < priority || (pk === priority && seqs[p]! < seq)) break;
      keys[i] = pk;
      seqs[i] = seqs[p]!;
      vals[i] = vals[p]!;
      i = p;
    }
    keys[i] = priority;
    seqs[i] = seq;
    vals[i] = value;
  }

  /** Remove the smallest entry and return its value (-1 when empty). */
  pop(): number {
    if (this.count === 0) return -1;
    const keys = this.keys;
    const seqs = this.seqs;
    const vals = this.vals;
    const top = vals[0]!;
    const n = --this.count;
    if (n > 0) {
      const k = keys[n]!;
      const s = seqs[n]!;
      const v = vals[n]!;
      // Sift down the last entry from the root.
      let i = 0;
      while (true) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && (keys[r]! < keys[c]! || (keys[r] === keys[c] && seqs[r]! < seqs[c]!))) c = r;
        const ck = keys[c]!;
        if (k < ck || (k === ck && s < seqs[c]!)) break;
        keys[i] = ck;
        seqs[i] = seqs[c]!;
        vals[i] = vals[c]!;
        i = c;
      }
      keys[i] = k;
      seqs[i] = s;
      vals[i] = v;
    }
    return top;
  }

  private grow(): void {
    const c = this.keys.length * 2;
    const keys = new Float64Array(c);
    const seqs = new Float64Array(c);
    const vals = new Int32Array(c);
    keys.set(this.keys);
    seqs.set(this.seqs);
    vals.set(this.vals);
    this.keys = keys;
    this.seqs = seqs;
    this.vals = vals;
  }
}

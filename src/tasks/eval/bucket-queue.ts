import { InputError } from '../../core/errors.js';
import { MinHeap } from './heap.js';

/**
 * A min-priority queue for priorities in a known range `[lo, hi]` that pops in exactly the order of
 * {@link MinHeap} (lowest priority first, ties first-in first-out), but keeps only the lowest band of
 * priorities in a binary heap: the range is cut into equal buckets, an entry above the current bucket
 * waits in its bucket's FIFO list (typed-array linked lists with a free list), and a bucket moves into the
 * heap when the heap runs empty. A flood pushes and pops millions of edges; the heap then holds one
 * bucket's worth of them instead of the whole frontier, so it stays small and in cache.
 *
 * Why the order is exact: every entry in a bucket above the current one has a higher priority than any
 * entry in the heap (buckets are monotone in priority), and a bucket's list is in push order, so moving it
 * into the (empty) heap keeps its first-in first-out ties. Out-of-range priorities are clamped to the
 * first or last bucket, which keeps the order exact too (the heap sorts within a bucket).
 */
export class BucketQueue {
  private readonly heap = new MinHeap(1024);
  private readonly lo: number;
  private readonly scale: number;
  private readonly buckets: number;
  private readonly head: Int32Array; // first pool entry of each bucket's list (-1 = empty)
  private readonly tail: Int32Array; // last pool entry of each bucket's list
  // Pool entries, 16 bytes each in one buffer (a list walk touches one cache line per entry): priority
  // at f64 [2i], value at i32 [4i + 2], next entry in its bucket's list or in the free list at i32 [4i + 3].
  private f64: Float64Array;
  private i32: Int32Array;
  private free = -1; // first free pool entry (-1 = none below `used`)
  private used = 0; // pool entries ever handed out
  private queued = 0; // entries waiting in buckets (not in the heap)
  private current = 0; // buckets <= current are in the heap
  private readonly onEnterHeap: ((value: number) => void) | null;

  /**
   * @param lo lowest priority expected
   * @param hi highest priority expected (>= lo)
   * @param buckets number of equal priority bands
   * @param onEnterHeap called with each value as it enters the heap (soon to be popped): pushed into
   *   the current band, or its band moved into the heap. A caller can load what the pop will need, so
   *   that those loads overlap (a whole band's at once)
   */
  constructor(lo: number, hi: number, buckets = 4096, onEnterHeap?: (value: number) => void) {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi >= lo))
      throw new InputError(`bucket queue: range must be two finite numbers lo <= hi, got [${lo}, ${hi}]`);
    this.lo = lo;
    this.buckets = buckets;
    this.onEnterHeap = onEnterHeap ?? null;
    this.scale = hi > lo ? buckets / (hi - lo) : 0;
    this.head = new Int32Array(buckets).fill(-1);
    this.tail = new Int32Array(buckets).fill(-1);
    this.f64 = new Float64Array(2 * 1024);
    this.i32 = new Int32Array(this.f64.buffer);
  }

  get size(): number {
    return this.heap.size + this.queued;
  }

  push(priority: number, value: number): void {
    const b = this.bucketOf(priority);
    if (b <= this.current) {
      this.heap.push(priority, value);
      this.onEnterHeap?.(value);
      return;
    }
    // Append to bucket b's list.
    let i = this.free;
    if (i >= 0) this.free = this.i32[4 * i + 3]!;
    else {
      if (2 * this.used === this.f64.length) this.grow();
      i = this.used++;
    }
    this.f64[2 * i] = priority;
    this.i32[4 * i + 2] = value;
    this.i32[4 * i + 3] = -1;
    if (this.head[b] === -1) this.head[b] = i;
    else this.i32[4 * this.tail[b]! + 3] = i;
    this.tail[b] = i;
    this.queued++;
  }

  /** Priority of the smallest entry (undefined when empty). */
  peekPriority(): number | undefined {
    if (this.heap.size === 0) this.refill();
    return this.heap.peekPriority();
  }

  /** Remove the smallest entry and return its value (-1 when empty). */
  pop(): number {
    if (this.heap.size === 0) this.refill();
    const value = this.heap.pop();
    // Empty: start again from bucket 0, so that the next pushes (a flood of the next section, which
    // starts low again) wait in their buckets; left at this flood's high end, every push of the next
    // would go to the heap, which then holds that flood's whole frontier.
    if (this.heap.size === 0 && this.queued === 0) {
      this.current = 0;
      // Every pool entry is free again: hand them out in order from the first (a free list left in
      // the order of the last flood's frees would scatter the next flood's lists over the pool).
      this.used = 0;
      this.free = -1;
    }
    return value;
  }

  private bucketOf(priority: number): number {
    const b = Math.floor((priority - this.lo) * this.scale);
    return b < 0 ? 0 : b >= this.buckets ? this.buckets - 1 : b;
  }

  /** Move the next non-empty bucket into the (empty) heap. */
  private refill(): void {
    if (this.queued === 0) return;
    let b = this.current + 1;
    while (this.head[b] === -1) b++;
    this.current = b;
    let i = this.head[b]!;
    const last = this.tail[b]!;
    const { f64, i32, onEnterHeap } = this;
    while (i !== -1) {
      this.heap.push(f64[2 * i]!, i32[4 * i + 2]!);
      onEnterHeap?.(i32[4 * i + 2]!);
      this.queued--;
      i = i32[4 * i + 3]!;
    }
    // The whole list goes to the free list.
    i32[4 * last + 3] = this.free;
    this.free = this.head[b]!;
    this.head[b] = -1;
    this.tail[b] = -1;
  }

  private grow(): void {
    const f64 = new Float64Array(2 * this.f64.length);
    f64.set(this.f64);
    this.f64 = f64;
    this.i32 = new Int32Array(f64.buffer);
  }
}

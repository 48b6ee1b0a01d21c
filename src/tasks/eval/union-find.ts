/**
 * Disjoint sets over the integers `[0, n)` on one Int32Array (path halving). The caller decides which
 * root survives a union (agglomeration keeps the region with the larger adjacency list as root, so
 * merging adjacency lists is small-into-large).
 */
export class UnionFind {
  /** parent[i] = i for a root. */
  readonly parent: Int32Array;

  constructor(readonly n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }

  /** Root of `i`; halves the path on the way (every node points to its grandparent). */
  find(i: number): number {
    const p = this.parent;
    while (p[i] !== i) {
      p[i] = p[p[i]!]!;
      i = p[i]!;
    }
    return i;
  }

  /** Make `root` the parent of `child`; both must be roots. */
  link(child: number, root: number): void {
    this.parent[child] = root;
  }

  /** Merge the sets of `a` and `b`, keeping the root of `a`; returns that root. */
  union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[rb] = ra;
    return ra;
  }
}

/*
 * Learning-rate schedule: linear warmup from 0 to `lr` over `warmupSteps`, then cosine decay to `minLr`
 * at `totalSteps` (held at `minLr` after). `step` counts updates already done (the first update uses step 0).
 */

export interface WarmupCosineOptions {
  /** Peak learning rate. */
  lr: number;
  /** Floor reached at the end of the cosine. */
  minLr: number;
  /** Updates of linear warmup (0 = none). */
  warmupSteps: number;
  /** Update count at which the cosine reaches `minLr`. */
  totalSteps: number;
}

/** A schedule: learning rate of update number `step` (0-based). */
export type LrSchedule = (step: number) => number;

/** Linear warmup + cosine decay. */
export function warmupCosine(o: WarmupCosineOptions): LrSchedule {
  return (step: number) => {
    if (step < o.warmupSteps) return (o.lr * (step + 1)) / (o.warmupSteps + 1);
    const span = Math.max(1, o.totalSteps - o.warmupSteps);
    const t = Math.min(1, (step - o.warmupSteps) / span);
    return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * t));
  };
}

/*
 * Timers for the benchmarks. Wall time is what a user waits; CPU time of this process (user + system)
 * is what the work costs, and moves far less when other processes share the cores: the bench rows print
 * both. The wasm backend runs on one thread, so for it CPU time is close to the work's own time.
 */

/** CPU time of this process so far, in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall and CPU ms of `fn`. */
export function timed(fn: () => void): { wall: number; cpu: number } {
  const c0 = cpuMs();
  const w0 = performance.now();
  fn();
  return { wall: performance.now() - w0, cpu: cpuMs() - c0 };
}

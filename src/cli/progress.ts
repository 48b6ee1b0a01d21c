import type { Observable, Subscription } from 'rxjs';
import type { TrainEvent } from '../core/events.js';

/**
 * A one-line progress bar on a TTY (stderr), fed by the trainer's events: step, phase, MIM loss,
 * realized mask ratio, reward, steps/s and ETA. On a non-TTY it prints a line every `every` steps.
 */
export function attachProgress(
  events$: Observable<TrainEvent>,
  total: number,
  opts: { every?: number; label?: string } = {},
): Subscription {
  const tty = process.stderr.isTTY === true;
  const every = opts.every ?? 25;
  const label = opts.label ?? 'pretrain';
  const t0 = performance.now();
  let startStep: number | null = null;
  return events$.subscribe({
    next: (e) => {
      if (e.type !== 'step') return;
      startStep ??= e.step - 1;
      const done = e.step - startStep;
      const secs = (performance.now() - t0) / 1000;
      const rate = done / Math.max(secs, 1e-9);
      const eta = (total - e.step) / Math.max(rate, 1e-9);
      const width = 24;
      const fill = Math.round((e.step / Math.max(1, total)) * width);
      const line =
        `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${e.step}/${total} phase ${e.phase} ` +
        `loss ${e.mimLoss.toFixed(4)} ratio ${e.maskRatio.toFixed(2)} reward ${e.reward.toFixed(3)} ` +
        `${rate.toFixed(2)} steps/s eta ${Math.round(eta)}s`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (e.step % every === 0 || e.step === total) process.stderr.write(line + '\n');
    },
    complete: () => {
      if (tty) process.stderr.write('\n');
    },
  });
}

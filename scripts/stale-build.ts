// Whether dist/ is older than the sources it was built from: the benchmarks and tests that run the
// built CLI (as users do) check it, so they never time or test a build that lags its sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Source files (`.ts` under `root/src`, relative to `root`) whose compiled `.js` under `root/dist` is
 * missing or older than the source: empty when `npm run build` is up to date.
 */
export function staleBuild(root: string, dir = join(root, 'src')): string[] {
  const stale: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const src = join(dir, e.name);
    if (e.isDirectory()) stale.push(...staleBuild(root, src));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      const built = join(root, 'dist', relative(join(root, 'src'), src)).replace(/\.ts$/, '.js');
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs)
        stale.push(relative(root, src));
    }
  }
  return stale;
}

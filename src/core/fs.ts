import { renameSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** A temp path next to `path` (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`);
}

/** Write a file atomically: a temp file in the same directory, then rename over the target. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Build a directory atomically: `fill(tmpDir)` writes into a temp directory which then replaces `dir`
 * (an existing `dir` is moved aside first and removed after the swap).
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => void | Promise<void>,
): Promise<void> {
  mkdirSync(dirname(dir) || '.', { recursive: true });
  const tmp = tempPathFor(dir);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await fill(tmp);
    if (existsSync(dir)) {
      const old = tempPathFor(dir) + '-old';
      renameSync(dir, old);
      renameSync(tmp, dir);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

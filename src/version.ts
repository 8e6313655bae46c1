import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * rungate's version, from its package.json: the nearest one named `rungate` above this file, so
 * it is found from `dist/`, from an installed package and from a build placed elsewhere in the
 * repository alike. `unknown` if none is found (a file copied out on its own).
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'rungate' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json here (or not one to read): look further up.
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The page's script as `npm run build` leaves it next to this module in dist/. */
const BUILT = new URL('./dashboard.js', import.meta.url);
/** The page's TypeScript entry, next to this module when running from the sources (tests). */
const SOURCE = new URL('./page/main.ts', import.meta.url);

/** What esbuild is asked for; the subset of its API used here (it is a devDependency). */
interface EsbuildApi {
  buildSync(options: Record<string, unknown>): { outputFiles: Array<{ text: string }> };
}

let fromSource: string | undefined;

/**
 * Bundles the page (src/dashboard/page/*.ts with @rungate/client's sources) into one browser
 * module, minified: ES2022 for evergreen browsers, nothing loaded from elsewhere at run time.
 */
export function bundlePage(entry: string): string {
  // esbuild is required only here: a built gateway reads dist/dashboard/dashboard.js instead.
  const esbuild = createRequire(import.meta.url)('esbuild') as EsbuildApi;
  const result = esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    // The client package's sources (its exports map's `@rungate/source`), not its build.
    conditions: ['@rungate/source'],
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('bundling the dashboard produced nothing');
  return file.text;
}

/**
 * The dashboard script: the build's bundle when there is one (dist/), else bundled from the
 * sources once per process (running from src/, as the tests do). Never stale: dist/ holds the
 * bundle of the same build as this module, and src/ has no bundle.
 */
export function pageScript(): string {
  if (existsSync(BUILT)) return readFileSync(BUILT, 'utf8');
  if (existsSync(SOURCE)) return (fromSource ??= bundlePage(fileURLToPath(SOURCE)));
  throw new Error(`the dashboard script is missing: ${fileURLToPath(BUILT)} (run npm run build)`);
}

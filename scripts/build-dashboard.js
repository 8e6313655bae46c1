// Bundles the dashboard's browser code (src/dashboard/page/) into dist/dashboard/dashboard.js with
// esbuild; `npm run build` runs it after tsc, which made dist/dashboard/page-bundle.js.
/* global process */ // a Node script; the lint config has no Node globals for plain JS
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// `--out DIR`: a build folder other than dist/ (the tests' private build).
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? process.argv[outIndex + 1] : join(root, 'dist');
// A plain-JS script reading the build's module: its types are the .d.ts beside it, not seen here.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const bundler = await import(pathToFileURL(join(outDir, 'dashboard', 'page-bundle.js')).href);
const target = join(outDir, 'dashboard', 'dashboard.js');
mkdirSync(dirname(target), { recursive: true });
// eslint-disable-next-line @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument
writeFileSync(target, bundler.bundlePage(join(root, 'src', 'dashboard', 'page', 'main.ts')));

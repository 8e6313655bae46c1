// The browser bundle of @rungate/client, measured as an app would ship it: bundled by esbuild
// for browsers, minified, then gzipped. `npm run size:client` prints it; `--json` for tests.
/* global process, console */ // a Node script; the lint config has no Node globals for plain JS
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../packages/client/src/index.ts', import.meta.url));

const result = await build({
  entryPoints: [entry],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  metafile: true,
  logLevel: 'silent',
});
const code = result.outputFiles[0].contents;
const figures = {
  minifiedBytes: code.byteLength,
  gzipBytes: gzipSync(code, { level: 9 }).byteLength,
  // `ws` shows up as "(disabled):…": the package maps it to nothing for browsers.
  inputs: Object.keys(result.metafile.inputs).filter((path) => !path.startsWith('(disabled)')),
};

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(figures));
} else {
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`@rungate/client browser bundle (esbuild, minified): ${kb(figures.minifiedBytes)}, gzip -9: ${kb(figures.gzipBytes)} (${figures.inputs.length} modules)`);
}

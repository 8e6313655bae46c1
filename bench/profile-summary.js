// Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench --
// --profile`): `node bench/profile-summary.js FILE [top=25]`. Self time is each node's samples
// times the mean sampling interval, summed per function and location.
/* global process, console */ // a Node script; the lint config has no Node globals for plain JS
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './bench-lib.js';

const [file, topArg = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.js FILE.cpuprofile [top]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const intervalMs = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
const byFunction = new Map();
let total = 0;
for (const node of profile.nodes) {
  const samples = counts.get(node.id) ?? 0;
  total += samples;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${relative(ROOT, url.replace('file://', ''))}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(key, (byFunction.get(key) ?? 0) + samples);
}
const idle = byFunction.get('(idle)') ?? 0;
console.log(`${file}: ${total} samples, ${((total * intervalMs) / 1000).toFixed(1)} s, ${((100 * idle) / total).toFixed(1)} % idle`);
console.log('| self % of busy | self ms | function |');
console.log('|---:|---:|---|');
const busy = total - idle;
for (const [key, samples] of [...byFunction].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) {
  console.log(`| ${((100 * samples) / busy).toFixed(1)} | ${(samples * intervalMs).toFixed(0)} | \`${key}\` |`);
}

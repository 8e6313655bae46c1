// The longest stretches of a V8 .cpuprofile without an idle sample — the event loop's stalls —
// and what ran most in each: `node bench/profile-stalls.js FILE [top=10] [minMs=20]`.
/* global process, console */ // a Node script; the lint config has no Node globals for plain JS
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './bench-lib.js';

const [file, topArg = '10', minArg = '20'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-stalls.js FILE.cpuprofile [top] [minMs]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
const label = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? ` ${relative(ROOT, url.replace('file://', ''))}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'}${where}`;
};
/** The frames of a sample's stack, innermost first. */
const stackOf = (id) => {
  const frames = [];
  for (let at = id; at !== undefined; at = parents.get(at)) frames.push(nodes.get(at));
  return frames;
};
const isIdle = (id) => nodes.get(id).callFrame.functionName === '(idle)';

const stretches = [];
let current;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
  if (isIdle(id)) {
    if (current) stretches.push(current);
    current = undefined;
    continue;
  }
  current ??= { ms: 0, self: new Map(), inclusive: new Map() };
  current.ms += ms;
  const stack = stackOf(id);
  current.self.set(label(stack[0]), (current.self.get(label(stack[0])) ?? 0) + ms);
  for (const frame of new Set(stack.map(label))) current.inclusive.set(frame, (current.inclusive.get(frame) ?? 0) + ms);
}
if (current) stretches.push(current);
stretches.sort((a, b) => b.ms - a.ms);
const top = (map, n) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => `${ms.toFixed(1)} ms ${name}`);
for (const stretch of stretches.filter((s) => s.ms >= Number(minArg)).slice(0, Number(topArg))) {
  console.log(`stall ${stretch.ms.toFixed(1)} ms`);
  console.log(`  self:      ${top(stretch.self, 4).join('; ')}`);
  const inclusive = [...stretch.inclusive].filter(([name]) => !name.startsWith('(root)') && !name.startsWith('(program)'));
  console.log(`  inclusive: ${top(new Map(inclusive), 6).join('; ')}`);
}

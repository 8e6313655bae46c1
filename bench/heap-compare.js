// Compares two V8 heap snapshots (e.g. the soak's `--heap-snapshots 2,6`) by retained size per
// constructor, the way DevTools' Summary view counts it (an object's retained size is added to
// its class unless an object of the same class dominates it), and lists the largest single
// objects of the later snapshot with the chain of objects that retains them.
//
//   node --max-old-space-size=8192 bench/heap-compare.js EARLY.heapsnapshot LATE.heapsnapshot [--top 25]
//   node --max-old-space-size=8192 bench/heap-compare.js ONE.heapsnapshot                      (one snapshot's summary)
/* global process, console */ // a Node script; the lint config has no Node globals for plain JS
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: flags, positionals: files } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const TOP = Number(flags.top);
const MiB = 1024 * 1024;

/** The class an object is counted under: its constructor, or a (kind) for engine internals. */
function className(type, name) {
  switch (type) {
    case 'object':
    case 'native':
    case 'synthetic':
      return name;
    case 'closure':
      return '(closure)';
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'code':
      return '(compiled code)';
    case 'hidden':
    case 'object shape':
      return '(system)';
    default:
      return `(${type})`;
  }
}

/** Parses a snapshot and computes dominators and retained sizes (Cooper–Harvey–Kennedy). */
function analyse(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const meta = snapshot.snapshot.meta;
  const { nodes, edges, strings } = snapshot;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nSize = meta.node_fields.indexOf('self_size');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const count = nodes.length / NF;

  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * NF + nEdges] * EF;
  const target = (e) => edges[e + eTo] / NF;
  const followed = (e) => edges[e + eType] !== weak;

  // Post-order from the root (node 0) over strong edges.
  const postIndex = new Int32Array(count).fill(-1);
  const nodeAt = new Int32Array(count);
  const visited = new Uint8Array(count);
  const stack = new Int32Array(count);
  const cursor = new Uint32Array(count);
  let post = 0;
  let top = 0;
  stack[0] = 0;
  visited[0] = 1;
  cursor[0] = firstEdge[0];
  while (top >= 0) {
    const v = stack[top];
    if (cursor[v] < firstEdge[v + 1]) {
      const e = cursor[v];
      cursor[v] += EF;
      if (!followed(e)) continue;
      const w = target(e);
      if (visited[w]) continue;
      visited[w] = 1;
      cursor[w] = firstEdge[w];
      stack[++top] = w;
    } else {
      postIndex[v] = post;
      nodeAt[post++] = v;
      top--;
    }
  }
  const reachable = post;

  // Predecessors in post-order numbering (CSR).
  const predCount = new Uint32Array(reachable + 1);
  for (let v = 0; v < count; v++) {
    if (postIndex[v] < 0) continue;
    for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) if (followed(e) && postIndex[target(e)] >= 0) predCount[postIndex[target(e)] + 1]++;
  }
  for (let i = 0; i < reachable; i++) predCount[i + 1] += predCount[i];
  const preds = new Int32Array(predCount[reachable]);
  const fill = predCount.slice(0, reachable);
  for (let v = 0; v < count; v++) {
    if (postIndex[v] < 0) continue;
    for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) {
      const w = postIndex[target(e)];
      if (followed(e) && w >= 0) preds[fill[w]++] = postIndex[v];
    }
  }

  const root = reachable - 1;
  const idom = new Int32Array(reachable).fill(-1);
  idom[root] = root;
  const intersect = (a, b) => {
    while (a !== b) {
      while (a < b) a = idom[a];
      while (b < a) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let b = root - 1; b >= 0; b--) {
      let next = -1;
      for (let p = predCount[b]; p < predCount[b + 1]; p++) {
        const pred = preds[p];
        if (idom[pred] < 0) continue;
        next = next < 0 ? pred : intersect(pred, next);
      }
      if (next >= 0 && idom[b] !== next) {
        idom[b] = next;
        changed = true;
      }
    }
  }

  const retained = new Float64Array(reachable);
  for (let i = 0; i < reachable; i++) retained[i] = nodes[nodeAt[i] * NF + nSize];
  for (let i = 0; i < root; i++) if (idom[i] >= 0) retained[idom[i]] += retained[i];

  const classOf = new Array(reachable);
  const classIds = new Map();
  const classNames = [];
  for (let i = 0; i < reachable; i++) {
    const v = nodeAt[i];
    const name = className(nodeTypes[nodes[v * NF + nType]], strings[nodes[v * NF + nName]]);
    let id = classIds.get(name);
    if (id === undefined) {
      id = classNames.length;
      classIds.set(name, id);
      classNames.push(name);
    }
    classOf[i] = id;
  }

  // Per class: count, self size, and retained size of the objects no same-class object dominates.
  const childCount = new Uint32Array(reachable + 1);
  for (let i = 0; i < root; i++) if (idom[i] >= 0) childCount[idom[i] + 1]++;
  for (let i = 0; i < reachable; i++) childCount[i + 1] += childCount[i];
  const children = new Int32Array(childCount[reachable]);
  const at = childCount.slice(0, reachable);
  for (let i = 0; i < root; i++) if (idom[i] >= 0) children[at[idom[i]]++] = i;
  const classes = classNames.map((name) => ({ name, count: 0, selfSize: 0, retainedSize: 0 }));
  const onStack = new Uint32Array(classNames.length);
  const dfs = [root];
  const leaving = new Uint8Array(reachable);
  while (dfs.length) {
    const i = dfs.pop();
    const c = classOf[i];
    if (leaving[i]) {
      onStack[c]--;
      continue;
    }
    const entry = classes[c];
    entry.count++;
    entry.selfSize += nodes[nodeAt[i] * NF + nSize];
    if (onStack[c] === 0) entry.retainedSize += retained[i];
    onStack[c]++;
    leaving[i] = 1;
    dfs.push(i);
    for (let k = childCount[i]; k < childCount[i + 1]; k++) dfs.push(children[k]);
  }

  /** The chain of dominators above object i, with the edge name where the dominator holds it directly. */
  function retainerPath(i, depth = 8) {
    const steps = [];
    for (let v = i, n = 0; v !== root && n < depth; v = idom[v], n++) {
      const holder = idom[v];
      let edge = '…';
      const node = nodeAt[holder];
      for (let e = firstEdge[node]; e < firstEdge[node + 1]; e += EF) {
        if (target(e) !== nodeAt[v]) continue;
        const kind = edgeTypes[edges[e + eType]];
        edge = kind === 'element' || kind === 'hidden' ? `[${edges[e + eName]}]` : String(strings[edges[e + eName]]);
        break;
      }
      steps.push(`${classNames[classOf[holder]]}.${edge}`);
    }
    return steps.join(' ← ');
  }

  const largest = [];
  for (let i = 0; i < root; i++) {
    if (nodeTypes[nodes[nodeAt[i] * NF + nType]] === 'synthetic') continue;
    largest.push(i);
  }
  largest.sort((a, b) => retained[b] - retained[a]);
  // Objects held the same way (40 connections' memories) are one line: count × each.
  const groups = new Map();
  const counted = new Set();
  for (const i of largest.slice(0, TOP * 50)) {
    // Inside a counted object of its own class (a linked list's later cells): already summed.
    let inside = false;
    for (let v = idom[i], n = 0; v !== root && n < 64 && !inside; v = idom[v], n++) inside = counted.has(v) && classOf[v] === classOf[i];
    if (inside) continue;
    counted.add(i);
    const className = classNames[classOf[i]];
    const path = retainerPath(i);
    const key = `${className} ← ${path}`;
    const group = groups.get(key) ?? { className, path, count: 0, retainedSize: 0, largest: 0 };
    group.count++;
    group.retainedSize += retained[i];
    group.largest = Math.max(group.largest, retained[i]);
    groups.set(key, group);
  }
  const topObjects = [...groups.values()].sort((a, b) => b.retainedSize - a.retainedSize).slice(0, TOP);
  const total = retained[root];
  return { path, nodes: count, reachable, total, classes, topObjects };
}

const mib = (bytes) => (bytes / MiB).toFixed(2);

function printSummary(result) {
  console.log(`${result.path}: ${result.reachable.toLocaleString('en-US')} reachable objects, ${mib(result.total)} MiB retained in all\n`);
  console.log('| class | objects | self MiB | retained MiB |');
  console.log('|---|---:|---:|---:|');
  for (const c of [...result.classes].sort((a, b) => b.retainedSize - a.retainedSize).slice(0, TOP)) {
    console.log(`| ${c.name} | ${c.count.toLocaleString('en-US')} | ${mib(c.selfSize)} | ${mib(c.retainedSize)} |`);
  }
}

function printTopObjects(result) {
  console.log(`\nLargest objects in ${result.path} (retained MiB, class, who holds it; alike ones summed):\n`);
  for (const o of result.topObjects) console.log(`- ${mib(o.retainedSize)} ${o.count > 1 ? `(${o.count} × ≤ ${mib(o.largest)}) ` : ''}${o.className} ← ${o.path}`);
}

if (files.length === 1) {
  const one = analyse(files[0]);
  printSummary(one);
  printTopObjects(one);
} else if (files.length === 2) {
  const [early, late] = files.map(analyse);
  console.log(`early: ${early.path}, ${mib(early.total)} MiB; late: ${late.path}, ${mib(late.total)} MiB; growth ${mib(late.total - early.total)} MiB\n`);
  const byName = new Map(early.classes.map((c) => [c.name, c]));
  const rows = late.classes.map((c) => {
    const before = byName.get(c.name) ?? { count: 0, retainedSize: 0, selfSize: 0 };
    return { name: c.name, countBefore: before.count, count: c.count, before: before.retainedSize, after: c.retainedSize, selfGrowth: c.selfSize - before.selfSize };
  });
  for (const c of early.classes) if (!late.classes.some((l) => l.name === c.name)) rows.push({ name: c.name, countBefore: c.count, count: 0, before: c.retainedSize, after: 0, selfGrowth: -c.selfSize });
  rows.sort((a, b) => b.after - b.before - (a.after - a.before));
  console.log('| class | objects early | objects late | retained MiB early | retained MiB late | growth MiB | self growth MiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of rows.slice(0, TOP)) {
    console.log(`| ${row.name} | ${row.countBefore.toLocaleString('en-US')} | ${row.count.toLocaleString('en-US')} | ${mib(row.before)} | ${mib(row.after)} | ${mib(row.after - row.before)} | ${mib(row.selfGrowth)} |`);
  }
  printTopObjects(early);
  printTopObjects(late);
} else {
  console.error('usage: node --max-old-space-size=8192 bench/heap-compare.js EARLY.heapsnapshot [LATE.heapsnapshot] [--top N]');
  process.exitCode = 2;
}

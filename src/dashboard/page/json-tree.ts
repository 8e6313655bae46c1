import { element } from './dom.js';

const OPEN_DEPTH = 2;

/**
 * A JSON value as a collapsible tree: objects and arrays are <details> (open down to OPEN_DEPTH),
 * leaves are key: value lines. Keyboard-usable as it is (summary elements take focus and toggle).
 */
export function jsonTree(value: unknown, key?: string, depth = 0): HTMLElement {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((item, index) => [String(index), item] as const) : Object.entries(value as Record<string, unknown>);
    const details = element('details', { className: 'json-node' });
    details.open = depth < OPEN_DEPTH;
    const size = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    const summary = element('summary');
    if (key !== undefined) summary.append(element('span', { className: 'json-key', text: key }), ': ');
    summary.append(element('span', { className: 'json-size', text: size }));
    details.append(summary);
    const list = element('ul', { className: 'json-children' });
    for (const [childKey, child] of entries) list.append(element('li', {}, jsonTree(child, childKey, depth + 1)));
    details.append(list);
    return details;
  }
  const line = element('span', { className: 'json-leaf' });
  if (key !== undefined) line.append(element('span', { className: 'json-key', text: key }), ': ');
  const type = value === null ? 'null' : typeof value;
  line.append(element('span', { className: `json-value json-${type}`, text: JSON.stringify(value) ?? String(value) }));
  return line;
}

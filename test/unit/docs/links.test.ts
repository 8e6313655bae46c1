import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DOCUMENTS = ['README.md', 'CHANGELOG.md', 'docs/deploying.md', 'docs/schema/README.md', 'deploy/README.md'];

describe('links between the documents', () => {
  it.each(DOCUMENTS)('%s links only to files that exist', (document) => {
    const text = readFileSync(join(ROOT, document), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^[a-z]+:/i.test(target) && !target.startsWith('#'));
    const missing = targets.filter((target) => !existsSync(join(ROOT, dirname(document), target.split('#')[0]!)));
    expect(missing).toEqual([]);
  });
});

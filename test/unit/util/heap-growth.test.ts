import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

/**
 * The peak JS heap (MiB) of a fresh process that sets the heap growth to `percent` and then
 * churns through a fixed amount of medium-lived garbage with ~40 MB live: the same allocations
 * in every run, so what differs is the collector's schedule (V8's own factor also depends on
 * how fast it collects; it came to ~385 MiB here against ~180 MiB bounded at 30 %).
 */
async function peakHeapMiB(percent: number, nodeFlags: string[] = []): Promise<number> {
  const module = pathToFileURL(join(inject('rungateBuildDir'), 'util', 'heap-growth.js')).href;
  const script = `
    const { setHeapGrowth } = await import(${JSON.stringify(module)});
    setHeapGrowth(${percent});
    const ring = new Array(150_000);
    let peak = 0;
    for (let i = 0; i < 3_000_000; i++) {
      ring[i % ring.length] = { text: 'x'.repeat(200) + i, list: [i, i + 1] };
      if (i % 5000 === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    console.log(Math.round(peak / 2 ** 20));`;
  const { stdout } = await run(process.execPath, [...nodeFlags, '--input-type=module', '-e', script]);
  return Number(stdout.trim());
}

describe('heap growth', () => {
  it("keeps the heap's peak near its live data, where V8's own factor lets it run to several times that", async () => {
    // One at a time: two collectors racing for the cores would blur both schedules.
    const own = await peakHeapMiB(0);
    const bounded = await peakHeapMiB(25);
    expect(bounded).toBeLessThan(own * 0.75);
  });

  it("leaves an explicit --heap-growing-percent among node's flags alone", async () => {
    const bounded = await peakHeapMiB(25);
    const explicit = await peakHeapMiB(25, ['--heap-growing-percent=400']);
    expect(explicit).toBeGreaterThan(bounded * 1.3);
  });
});

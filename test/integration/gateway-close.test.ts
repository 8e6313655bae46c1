import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway } from '../../src/gateway.js';

describe('gateway.close', () => {
  it('closes once: a second call gets the same promise and closes nothing again', async () => {
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    // The embedded simulator too, so that every kind of part is on the closers' list.
    const config = loadServeConfig(['--port', '0', '--store', 'memory', '--simulate', '--log-level', 'silent'], {});
    const gateway = await startGateway(config, logger);
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);

    const first = gateway.close();
    expect(gateway.close()).toBe(first);
    await first;
    expect(gateway.close()).toBe(first);
    await gateway.close();

    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
    // The 'listening' lines are written whatever the level; nothing may have gone wrong.
    expect(logged.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level >= 40)).toEqual([]);
  });
});

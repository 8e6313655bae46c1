import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { persistenceWarning, readRedisPersistence, warnIfNotPersistent, type RedisCaller } from '../../../src/redis/redis-persistence.js';

/** A server that answers CONFIG GET from `config` (or refuses it) and INFO persistence from `info` (undefined: refused). */
function fakeRedis(config: Record<string, string> | 'refused', info?: string): RedisCaller {
  return {
    call(command: string, ...args: string[]): Promise<unknown> {
      if (command === 'CONFIG') {
        if (config === 'refused') return Promise.reject(new Error("ERR unknown command 'CONFIG'"));
        const name = args[1]!;
        return Promise.resolve(name in config ? [name, config[name]] : []);
      }
      if (command === 'INFO') return info === undefined ? Promise.reject(new Error('NOPERM')) : Promise.resolve(info);
      return Promise.reject(new Error(`unexpected ${command}`));
    },
  };
}

describe('Redis persistence at start', () => {
  it('reads appendonly and save with CONFIG GET', async () => {
    expect(await readRedisPersistence(fakeRedis({ appendonly: 'no', save: '' }))).toEqual({ appendOnly: false, snapshots: false, source: 'config' });
    expect(await readRedisPersistence(fakeRedis({ appendonly: 'yes', save: '' }))).toEqual({ appendOnly: true, snapshots: false, source: 'config' });
    expect(await readRedisPersistence(fakeRedis({ appendonly: 'no', save: '3600 1 300 100' }))).toEqual({ appendOnly: false, snapshots: true, source: 'config' });
  });

  it('falls back to INFO persistence where CONFIG is not allowed, and to nothing where neither is', async () => {
    const info = '# Persistence\r\nloading:0\r\naof_enabled:1\r\n';
    expect(await readRedisPersistence(fakeRedis('refused', info))).toEqual({ appendOnly: true, snapshots: undefined, source: 'info' });
    expect(await readRedisPersistence(fakeRedis('refused', info.replace('aof_enabled:1', 'aof_enabled:0')))).toEqual({ appendOnly: false, snapshots: undefined, source: 'info' });
    expect(await readRedisPersistence(fakeRedis('refused'))).toEqual({ appendOnly: undefined, snapshots: undefined, source: 'none' });
    // A CONFIG that answers oddly (a proxy) counts as refused.
    expect((await readRedisPersistence(fakeRedis({}, info))).source).toBe('info');
  });

  it('warns when nothing is kept on disk or only snapshots are, and says nothing with an append-only file', () => {
    expect(persistenceWarning({ appendOnly: true, snapshots: false, source: 'config' })).toBeUndefined();
    expect(persistenceWarning({ appendOnly: true, snapshots: undefined, source: 'info' })).toBeUndefined();
    const nothing = persistenceWarning({ appendOnly: false, snapshots: false, source: 'config' });
    expect(nothing?.level).toBe('warn');
    expect(nothing?.message).toMatch(/^Redis keeps nothing on disk: .*appendonly yes with appendfsync everysec$/);
    expect(persistenceWarning({ appendOnly: false, snapshots: true, source: 'config' })?.message).toMatch(/^Redis keeps only RDB snapshots/);
    expect(persistenceWarning({ appendOnly: false, snapshots: undefined, source: 'info' })).toMatchObject({ level: 'warn' });
    expect(persistenceWarning({ appendOnly: undefined, snapshots: undefined, source: 'none' })).toMatchObject({ level: 'info' });
  });

  it('logs the warning with the settings it read', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    );
    await warnIfNotPersistent(fakeRedis({ appendonly: 'no', save: '' }), logger);
    await warnIfNotPersistent(fakeRedis({ appendonly: 'yes', save: '' }), logger);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, persistence: { appendOnly: false, snapshots: false, source: 'config' } });
  });
});

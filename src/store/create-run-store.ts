import type { Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.js';
import { MemoryRunStore } from './memory-run-store.js';
import type { RunStore } from './run-store.js';

/** Picks the store driver that `--store` names. */
export async function createRunStore(config: ServeConfig['store'], _logger: Logger): Promise<RunStore> {
  switch (config.kind) {
    case 'memory':
      return new MemoryRunStore();
    case 'sqlite': {
      const { SqliteRunStore } = await import('./sqlite-run-store.js');
      return SqliteRunStore.open(config.path);
    }
    case 'redis':
      throw new Error('the redis store is wired in by the cluster mode');
  }
}

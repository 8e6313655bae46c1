import type { Redis } from 'ioredis';
import type { MarkReading, StoreMark, StoreMarker } from './store-marker.js';

/**
 * Writes `next` as the mark only if the stored one is still `expected` ('' = none), keeping the
 * write counter; answers the mark stored afterwards. KEYS: mark hash. ARGV: expected id, next
 * id, next generation.
 */
const SWAP_MARK_LUA = `
local id = redis.call('HGET', KEYS[1], 'id')
if (ARGV[1] == '' and not id) or id == ARGV[1] then
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'generation', ARGV[3])
end
return redis.call('HMGET', KEYS[1], 'id', 'generation')
`;

interface MarkerCommands {
  rungateSwapMark(key: string, expectedId: string, nextId: string, nextGeneration: number): Promise<Array<string | null>>;
}

/**
 * The Redis side of store-marker.ts: the mark is the hash `${prefix}mark` with `id`,
 * `generation` and `writes`. Redis restarted without persistence comes back without it;
 * restarted from an old snapshot or a truncated append-only file, with a `writes` count below
 * what this instance's writes already reached. The run store's compare-and-set script checks
 * both (see `casArguments`) and bumps `writes` in the same step as the write.
 */
export class RedisStoreMarker implements StoreMarker {
  /** The hash the mark lives in; the run store's script names it among its keys. */
  readonly key: string;
  private readonly commands: MarkerCommands;
  private expected: StoreMark | undefined;
  private highestOwnWrite = 0;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}mark`;
    this.redis.defineCommand('rungateSwapMark', { lua: SWAP_MARK_LUA, numberOfKeys: 1 });
    this.commands = this.redis as unknown as MarkerCommands;
  }

  async readMark(): Promise<MarkReading> {
    const [id, generation, writes] = await this.redis.hmget(this.key, 'id', 'generation', 'writes');
    return { mark: markOf(id ?? null, generation ?? null), writes: Number(writes ?? 0) };
  }

  async swapMark(expected: StoreMark | undefined, next: StoreMark): Promise<StoreMark> {
    const [id, generation] = await this.commands.rungateSwapMark(this.key, expected?.id ?? '', next.id, next.generation);
    const stored = markOf(id ?? null, generation ?? null);
    if (!stored) throw new Error('Redis answered a mark swap without a mark');
    return stored;
  }

  expectMark(mark: StoreMark): void {
    this.expected = mark;
    this.highestOwnWrite = 0;
  }

  ownWrites(): number {
    return this.highestOwnWrite;
  }

  onReconnect(listener: () => void): () => void {
    // 'ready' fired once before the store existed (startup connects first): each later one is a reconnect.
    this.redis.on('ready', listener);
    return () => this.redis.off('ready', listener);
  }

  /** The mark id a write must find ('' = none expected yet) and the write count it must not be below. */
  casArguments(): [string, number] {
    return [this.expected?.id ?? '', this.highestOwnWrite];
  }

  /** A write of this instance was given write count `count`. */
  noteWrite(count: number): void {
    if (count > this.highestOwnWrite) this.highestOwnWrite = count;
  }
}

function markOf(id: string | null, generation: string | null): StoreMark | undefined {
  if (id === null) return undefined;
  const parsed = Number(generation ?? 0);
  return { id, generation: Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : 0 };
}

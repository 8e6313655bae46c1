import type { Redis } from 'ioredis';
import type { LimitStore, WindowHits } from './limit-store.js';

/**
 * One hit on a fixed window that starts at the key's first hit. The window's end is the key's
 * expiry, set as an absolute time on Redis's own clock (TIME), so instances with skewed clocks
 * agree on it, and read back exactly (PEXPIRETIME, Redis 7) so every hit of a window reports the
 * same end; before Redis 7 it is TIME plus PTTL, which can differ by a millisecond.
 * KEYS: the window's key. ARGV: windowMs. Returns {hits, resetAtMs}.
 */
const HIT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 or ttl < 0 then
  local at = now + tonumber(ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], at)
  return {hits, at}
end
local at = redis.pcall('PEXPIRETIME', KEYS[1])
if type(at) ~= 'number' then at = now + ttl end
return {hits, at}
`;

/** Takes one hit back from a window that is still open. KEYS: the window's key. */
const UNHIT_LUA = `
local hits = tonumber(redis.call('GET', KEYS[1]))
if hits and hits > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

/**
 * Takes a token from a bucket kept as a hash {tokens, at}; a missing bucket is full, so the key
 * expires once the bucket would have refilled. Redis's clock (TIME) for the same reason as above.
 * KEYS: the bucket's key. ARGV: capacity, periodMs. Returns 1 when a token was taken.
 */
const TAKE_LUA = `
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
if capacity < 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * capacity / period)
if tokens < 1 then return 0 end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * period / capacity) + 1000)
return 1
`;

interface LimitCommands {
  rungateLimitHit(key: string, windowMs: number): Promise<[number, number]>;
  rungateLimitUnhit(key: string): Promise<number>;
  rungateLimitTake(key: string, capacity: number, periodMs: number): Promise<number>;
}

export interface RedisLimitStoreOptions {
  /** The command connection; may be shared with the other Redis drivers. */
  redis: Redis;
  /** Key prefix; limits are `${prefix}limit:${key}` (windows) and `${prefix}bucket:${key}`. */
  prefix: string;
}

/** Limits shared by every instance on one Redis: each operation is one atomic script. */
export class RedisLimitStore implements LimitStore {
  readonly shared = true;
  private readonly redis: Redis;
  private readonly commands: LimitCommands;
  private readonly prefix: string;

  constructor(options: RedisLimitStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.redis.defineCommand('rungateLimitHit', { lua: HIT_LUA, numberOfKeys: 1 });
    this.redis.defineCommand('rungateLimitUnhit', { lua: UNHIT_LUA, numberOfKeys: 1 });
    this.redis.defineCommand('rungateLimitTake', { lua: TAKE_LUA, numberOfKeys: 1 });
    this.commands = this.redis as unknown as LimitCommands;
  }

  async hit(key: string, windowMs: number): Promise<WindowHits> {
    const [hits, resetAtMs] = await this.commands.rungateLimitHit(this.windowKey(key), Math.max(1, Math.round(windowMs)));
    return { hits: Number(hits), resetAtMs: Number(resetAtMs) };
  }

  async unhit(key: string): Promise<void> {
    await this.commands.rungateLimitUnhit(this.windowKey(key));
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.windowKey(key), this.bucketKey(key));
  }

  async take(key: string, capacity: number, periodMs: number): Promise<boolean> {
    return (await this.commands.rungateLimitTake(this.bucketKey(key), capacity, Math.max(1, periodMs))) === 1;
  }

  close(): Promise<void> {
    // The connection belongs to the drivers that share it.
    return Promise.resolve();
  }

  private windowKey(key: string): string {
    return `${this.prefix}limit:${key}`;
  }

  private bucketKey(key: string): string {
    return `${this.prefix}bucket:${key}`;
  }
}

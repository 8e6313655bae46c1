import type { Redis } from 'ioredis';
import { StoreResetError } from '../errors.js';
import { isFinal } from '../runs/run.js';
import { closeConnection } from '../redis/redis-connection.js';
import { countUnfinishedRecords, decodeCursor, encodeCursor, matchesQuery, type UnfinishedCounts, type RunListPage, type RunListQuery, type RunStore } from './run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { RedisStoreMarker } from './redis-store-marker.js';
import { deliveryDueAtMs } from '../runs/delivery.js';

/**
 * Compare-and-set of one run, atomic in Redis. Writes the record only when the stored `rev`
 * equals the expected one (0 = absent); on insert it takes the next ordinal from a counter and
 * indexes the run in the newest-first sets, and on every write it keeps the unfinished set and
 * the finished-by-age set in step with the status, so no reader ever sees them disagree.
 *
 * With an expected store mark it first checks that the store still holds that mark and has not
 * counted fewer writes than this instance's own reached (see redis-store-marker.ts), and bumps
 * that count with the write: a store that lost its data refuses the write instead of taking it.
 *
 * The relay outbox's index (pending deliveries by due time) is kept in step by the same script.
 *
 * KEYS: run hash, all-runs zset, ordinal counter, unfinished set, finished zset, flow zset,
 * owner zset (a placeholder key when the run has no owner), mark hash, relay-due zset.
 * ARGV: expectedRev, rev, record JSON, id, final (0/1), updatedAtMs, owner ('' = none), flowId,
 * expected mark id ('' = none), the lowest write count allowed, delivery due ms ('' = none pending).
 * Returns -1 when the mark is not the expected one, 0 when the rev is not, else the write count
 * (1 without an expected mark).
 */
const CAS_LUA = `
if ARGV[9] ~= '' then
  local mark = redis.call('HMGET', KEYS[8], 'id', 'writes')
  if mark[1] ~= ARGV[9] or (tonumber(mark[2]) or 0) < tonumber(ARGV[10]) then return -1 end
end
local stored = redis.call('HGET', KEYS[1], 'rev')
local storedRev = tonumber(stored) or 0
if storedRev ~= tonumber(ARGV[1]) then return 0 end
local ordinal
if stored then
  ordinal = tonumber(redis.call('HGET', KEYS[1], 'ord'))
else
  ordinal = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], ordinal, ARGV[4])
  redis.call('ZADD', KEYS[6], ordinal, ARGV[4])
  redis.call('HSET', KEYS[1], 'ord', ordinal, 'flow', ARGV[8])
end
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[7], ordinal, ARGV[4])
  redis.call('HSET', KEYS[1], 'owner', ARGV[7])
end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'rec', ARGV[3], 'final', ARGV[5], 'upd', ARGV[6])
if ARGV[5] == '1' then
  redis.call('SREM', KEYS[4], ARGV[4])
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4])
else
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('ZREM', KEYS[5], ARGV[4])
end
if ARGV[11] ~= '' then
  redis.call('ZADD', KEYS[9], ARGV[11], ARGV[4])
else
  redis.call('ZREM', KEYS[9], ARGV[4])
end
if ARGV[9] ~= '' then return redis.call('HINCRBY', KEYS[8], 'writes', 1) end
return 1
`;

/**
 * Deletes one run if it is still finished and last written before the cutoff (it may have been
 * rewritten since it was listed), unless its delivery is still pending. KEYS: run hash, all-runs
 * zset, finished zset, flow zset, owner zset (placeholder when none), relay-due zset. ARGV: id, beforeMs.
 */
const PRUNE_ONE_LUA = `
if redis.call('ZSCORE', KEYS[6], ARGV[1]) then return 0 end
local fields = redis.call('HMGET', KEYS[1], 'final', 'upd')
if fields[1] ~= '1' then
  -- Gone or no longer final: it has no business in the finished set.
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
if tonumber(fields[2]) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
`;

/** The Lua commands this store defines on its connection. */
interface RunStoreCommands {
  rungateRunCas(...args: Array<string | number>): Promise<number>;
  rungateRunPrune(...args: Array<string | number>): Promise<number>;
}

/** How many index entries one list round trip reads while filtering. */
const LIST_BATCH = 200;
/** How many records one round trip fetches for listUnfinished and pruning. */
const FETCH_BATCH = 500;
/** A ping that takes longer than this counts as no answer (readiness must not hang). */
const PING_TIMEOUT_MS = 2000;

export interface RedisRunStoreOptions {
  /** The command connection; may be shared with the other Redis drivers. */
  redis: Redis;
  /** Prepended to every key, so several deployments (or tests) share one database. */
  prefix: string;
  /** Quit the connection on close (true when the store is its only user). */
  ownsConnection?: boolean;
}

/**
 * Runs in Redis for cluster mode. A run is a hash `${prefix}run:${id}` holding the record JSON
 * and its `rev`; compare-and-set is one Lua script, so it is atomic across every instance.
 * Listing is newest first from sorted sets scored by an insertion ordinal (all runs, per flow,
 * per owner); a status filter is applied while scanning. The cursor is the last ordinal shown.
 * Pruning and the unfinished set are maintained by the same scripts that write.
 */
export class RedisRunStore implements RunStore {
  readonly kind = 'redis' as const;
  /** Redis may come back empty (no persistence) while instances keep running: writes check this mark. */
  readonly marker: RedisStoreMarker;
  private readonly redis: Redis;
  private readonly commands: RunStoreCommands;
  private readonly prefix: string;
  private readonly ownsConnection: boolean;

  constructor(options: RedisRunStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.ownsConnection = options.ownsConnection ?? false;
    // defineCommand sends EVALSHA and falls back to EVAL when Redis does not have the script yet.
    this.redis.defineCommand('rungateRunCas', { lua: CAS_LUA, numberOfKeys: 9 });
    this.redis.defineCommand('rungateRunPrune', { lua: PRUNE_ONE_LUA, numberOfKeys: 6 });
    this.commands = this.redis as unknown as RunStoreCommands;
    this.marker = new RedisStoreMarker(this.redis, this.prefix);
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const json = await this.redis.hget(this.runKey(id), 'rec');
    return json === null ? undefined : (JSON.parse(json) as RunRecord);
  }

  async compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    const { id, flowId, status } = next.run;
    const owner = next.owner ?? '';
    const [markId, lowestWrites] = this.marker.casArguments();
    const written = await this.commands.rungateRunCas(
      this.runKey(id),
      this.key('runs'),
      this.key('ordinal'),
      this.key('unfinished'),
      this.key('finished'),
      this.flowKey(flowId),
      this.ownerKey(owner),
      this.marker.key,
      this.key('relaydue'),
      expectedRev,
      next.rev,
      JSON.stringify(next),
      id,
      isFinal(status) ? 1 : 0,
      next.updatedAtMs,
      owner,
      flowId,
      markId,
      lowestWrites,
      deliveryDueAtMs(next.delivery) ?? '',
    );
    if (written === -1) throw new StoreResetError(markId);
    if (written > 0 && markId !== '') this.marker.noteWrite(written);
    return written > 0;
  }

  async list(query: RunListQuery): Promise<RunListPage> {
    let before = '+inf';
    if (query.cursor !== undefined) before = `(${decodeCursor(query.cursor)}`;
    // The narrowest index that the query allows; the remaining filters are checked per record.
    const index =
      query.flowId !== undefined ? this.flowKey(query.flowId) : query.owner !== undefined ? this.ownerKey(query.owner) : this.key('runs');
    const found: Array<{ record: RunRecord; ordinal: number }> = [];
    while (found.length <= query.limit) {
      const slice = await this.redis.zrevrangebyscore(index, before, '-inf', 'WITHSCORES', 'LIMIT', 0, LIST_BATCH);
      if (slice.length === 0) break;
      const ids: string[] = [];
      const ordinals: number[] = [];
      for (let i = 0; i + 1 < slice.length; i += 2) {
        ids.push(slice[i]!);
        ordinals.push(Number(slice[i + 1]));
      }
      const records = await this.fetch(ids);
      for (let i = 0; i < ids.length && found.length <= query.limit; i++) {
        const record = records[i];
        // A run pruned between the index read and the fetch is simply not listed.
        if (record && matchesQuery(record, query)) found.push({ record, ordinal: ordinals[i]! });
      }
      before = `(${ordinals[ordinals.length - 1]!}`;
      if (ids.length < LIST_BATCH) break;
    }
    const page = found.slice(0, query.limit);
    const last = page[page.length - 1];
    const records = page.map((entry) => entry.record);
    return found.length > query.limit && last ? { records, nextCursor: encodeCursor(last.ordinal) } : { records };
  }

  /** Reads the unfinished records to count them: Redis keeps their status only inside the JSON. */
  async countUnfinished(): Promise<UnfinishedCounts> {
    return countUnfinishedRecords(await this.listUnfinished());
  }

  async listUnfinished(): Promise<RunRecord[]> {
    const ids = await this.redis.smembers(this.key('unfinished'));
    const result: RunRecord[] = [];
    for (let start = 0; start < ids.length; start += FETCH_BATCH) {
      for (const record of await this.fetch(ids.slice(start, start + FETCH_BATCH))) {
        if (record && !isFinal(record.run.status)) result.push(record);
      }
    }
    return result;
  }

  async listDueDeliveries(nowMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.key('relaydue'), '-inf', nowMs, 'LIMIT', 0, limit);
  }

  async countPendingDeliveries(): Promise<number> {
    return this.redis.zcard(this.key('relaydue'));
  }

  async pruneFinished(beforeMs: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const ids = await this.redis.zrangebyscore(this.key('finished'), '-inf', `(${beforeMs}`, 'LIMIT', 0, FETCH_BATCH);
      if (ids.length === 0) return removed;
      // Flow and owner never change once set, so reading them before the script is safe.
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hmget(this.runKey(id), 'flow', 'owner');
      const fields = (await pipeline.exec()) ?? [];
      let removedNow = 0;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const [error, value] = fields[i] ?? [null, null];
        if (error) throw error;
        const [flow, owner] = (value as Array<string | null> | null) ?? [null, null];
        const done = await this.commands.rungateRunPrune(
          this.runKey(id),
          this.key('runs'),
          this.key('finished'),
          this.flowKey(flow ?? ''),
          this.ownerKey(owner ?? ''),
          this.key('relaydue'),
          id,
          beforeMs,
        );
        removedNow += done;
      }
      removed += removedNow;
      // A batch that removed nothing would come back unchanged: stop rather than spin.
      if (ids.length < FETCH_BATCH || removedNow === 0) return removed;
    }
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
      timer.unref();
    });
    try {
      await Promise.race([this.redis.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await closeConnection(this.redis);
  }

  /** The records of `ids` in one round trip; undefined where a run is gone. */
  private async fetch(ids: string[]): Promise<Array<RunRecord | undefined>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.runKey(id), 'rec');
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [error, value] = replies[i] ?? [null, null];
      if (error) throw error;
      return typeof value === 'string' ? (JSON.parse(value) as RunRecord) : undefined;
    });
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  private runKey(id: string): string {
    return `${this.prefix}run:${id}`;
  }

  private flowKey(flowId: string): string {
    return `${this.prefix}flow:${flowId}`;
  }

  private ownerKey(owner: string): string {
    // An ownerless run still needs a declared key for the script; it is never written.
    return `${this.prefix}owner:${owner}`;
  }
}

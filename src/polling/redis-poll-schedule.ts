import type { Redis } from 'ioredis';
import { closeConnection } from '../redis/redis-connection.js';
import type { PollSchedule, ScheduledPoll } from './poll-schedule.js';

/**
 * Takes up to ARGV[2] runs due by ARGV[1] and moves each to ARGV[3] (the lease's end) in one
 * atomic step, so two instances calling it at the same moment never get the same run.
 */
const TAKE_DUE_LUA = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids
`;

interface ScheduleCommands {
  rungateTakeDue(key: string, nowMs: number, limit: number, leaseEndMs: number): Promise<string[]>;
}

export interface RedisPollScheduleOptions {
  /** The command connection; may be shared with the other Redis drivers. */
  redis: Redis;
  /** Key prefix; the schedule is the sorted set `${prefix}polls`. */
  prefix: string;
  /** Quit the connection on close (true when the schedule is its only user). */
  ownsConnection?: boolean;
}

/**
 * The cluster schedule: one sorted set shared by every instance, scored by due time (ms). A run
 * taken for polling is re-scored to the end of its lease inside the same script that found it
 * due, which is the lease: no other instance takes it meanwhile, and if the taker dies before it
 * reschedules or removes the run, the run simply comes due again when the lease ends.
 */
export class RedisPollSchedule implements PollSchedule {
  private readonly redis: Redis;
  private readonly commands: ScheduleCommands;
  private readonly key: string;
  private readonly ownsConnection: boolean;

  constructor(options: RedisPollScheduleOptions) {
    this.redis = options.redis;
    this.key = `${options.prefix}polls`;
    this.ownsConnection = options.ownsConnection ?? false;
    this.redis.defineCommand('rungateTakeDue', { lua: TAKE_DUE_LUA, numberOfKeys: 1 });
    this.commands = this.redis as unknown as ScheduleCommands;
  }

  async add(id: string, dueAtMs: number): Promise<void> {
    await this.redis.zadd(this.key, 'NX', dueAtMs, id);
  }

  async addMany(entries: readonly ScheduledPoll[]): Promise<void> {
    if (entries.length === 0) return;
    await this.redis.zadd(this.key, 'NX', ...entries.flatMap(({ id, dueAtMs }) => [dueAtMs, id]));
  }

  async set(id: string, dueAtMs: number): Promise<void> {
    await this.redis.zadd(this.key, dueAtMs, id);
  }

  async remove(id: string): Promise<void> {
    await this.redis.zrem(this.key, id);
  }

  async takeDue(nowMs: number, limit: number, leaseMs: number): Promise<string[]> {
    if (limit <= 0) return [];
    return this.commands.rungateTakeDue(this.key, nowMs, limit, nowMs + leaseMs);
  }

  async nextDueAtMs(): Promise<number | undefined> {
    const [, score] = await this.redis.zrange(this.key, '0', '0', 'WITHSCORES');
    return score === undefined ? undefined : Number(score);
  }

  size(): Promise<number> {
    return this.redis.zcard(this.key);
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await closeConnection(this.redis);
  }
}

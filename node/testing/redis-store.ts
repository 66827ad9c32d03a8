/**
 * RedisStateStore instances for tests and benches: a unique key prefix per store (so many stores
 * share one redis-server), silent logs, and a bounded wait until connected.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { RetentionConfig } from '../config/schema.js';
import { RedisStateStore } from '../state/redis.js';

export interface TestStoreOptions {
  retention: RetentionConfig;
  maxSeries: number;
  streamSeqTtlMs: number;
  now: () => number;
}

export const uniquePrefix = (): string => `t${randomBytes(4).toString('hex')}:`;

export async function makeRedisStore(url: string, o: TestStoreOptions, extra: { chunkBuckets?: number; prefix?: string } = {}): Promise<RedisStateStore> {
  const store = new RedisStateStore({
    state: { redisUrl: url, redisKeyPrefix: extra.prefix ?? uniquePrefix(), maxSeries: o.maxSeries, streamSeqTtlMs: o.streamSeqTtlMs },
    retention: o.retention,
    commandTimeoutMs: 5000,
    log: pino({ level: 'silent' }),
    now: o.now,
    // Small chunks by default, so chunk expiry runs even with the tests' small rings.
    chunkBuckets: extra.chunkBuckets ?? 4,
  });
  await waitFor(() => store.ready(), 15_000, `redis store at ${url} to connect`);
  return store;
}

/** Poll `cond` every 20 ms; reject with a clear message after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * RedisStateStore on a real redis-server (our own, on a free port): the shared contract suite,
 * then what only Redis mode has — a randomized differential run against the memory store
 * (identical answers), concurrent writers, group commit, TTLs, and fail-fast while Redis is down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startRedis, type RunningRedis } from '../testing/redis.js';
import { makeRedisStore, uniquePrefix, waitFor } from '../testing/redis-store.js';
import { skipUnless } from '../testing/binaries.js';
import { Redis } from 'ioredis';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { GroupCommitStore } from '../aggregate/group-commit.js';
import { RedisStateStore } from './redis.js';
import { baseTime, batchOf, DEFAULT_RETENTION, SMALL_RETENTION, storeContract } from './store.contract.js';
import { compareStores, makeWorkload, memoryReference } from './store.differential.js';
import { DeltaBuilder, type TickDelta } from '../aggregate/delta.js';
import { RedisConnection, type AnyRedis } from './redis-client.js';
import { RedisKeys } from './redis-keys.js';
import { PartialWriter } from './redis-writer.js';
import type { RespPipe } from './resp-pipe.js';
import type { S } from './store.contract.js';

const skip = skipUnless('redis-server');
const log = pino({ level: 'silent' });
let redis: RunningRedis | undefined;

// One redis-server for the whole file; every store gets its own key prefix.
describe('redis store', { skip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  storeContract('redis', (o) => makeRedisStore(redis!.url, o));

describe('identical answers to the memory store (randomized)', () => {
  for (const [seed, retention, lateMs] of [[1, SMALL_RETENTION, 40_000], [2, SMALL_RETENTION, 15_000], [3, DEFAULT_RETENTION, 30 * 60_000]] as const) {
    test(`seed ${seed}: every query equal, applies one by one`, async (t) => {
      const T = retention === SMALL_RETENTION ? baseTime(5000) : baseTime();
      const w = makeWorkload(seed, T, { batches: 80, sources: 5, lateMs });
      const ref = memoryReference(retention);
      const store = await makeRedisStore(redis!.url, { retention, maxSeries: 100_000, streamSeqTtlMs: 900_000, now: Date.now });
      t.after(() => store.close());
      for (const b of w.batches) {
        ref.partition.apply(batchOf(b.samples), b.receivedAt);
        await store.apply(batchOf(b.samples), b.receivedAt);
      }
      const checks = await compareStores(ref, store, w, retention, { drainUpdates: true });
      assert.ok(checks > 400, `compared ${checks} answers`);
    });
  }

  test('group commit: concurrent applies in one tick give the same answers as applying them in order', async (t) => {
    const retention = SMALL_RETENTION;
    const w = makeWorkload(7, baseTime(5000), { batches: 120, sources: 6, lateMs: 30_000 });
    const ref = memoryReference(retention);
    const inner = await makeRedisStore(redis!.url, { retention, maxSeries: 100_000, streamSeqTtlMs: 900_000, now: Date.now });
    let ticks = 0;
    const store = new GroupCommitStore(inner, { intervalMs: 10, onTick: () => ticks++ });
    t.after(() => store.close());
    // Groups of 10 applies in flight at once: each group lands in one tick, in call order.
    for (let i = 0; i < w.batches.length; i += 10) {
      const group = w.batches.slice(i, i + 10);
      for (const b of group) ref.partition.apply(batchOf(b.samples), b.receivedAt);
      await Promise.all(group.map((b) => store.apply(batchOf(b.samples), b.receivedAt)));
    }
    assert.ok(ticks < w.batches.length / 2, `applies were grouped (${ticks} ticks for ${w.batches.length} applies)`);
    await compareStores(ref, store, w, retention, { drainUpdates: true });
  });

  test('min/max/last/count stay exact with concurrent writers (three stores, interleaved)', async (t) => {
    const retention = DEFAULT_RETENTION;
    const w = makeWorkload(11, baseTime(), { batches: 150, sources: 8, lateMs: 20 * 60_000, uniqueTs: true, kindFlips: false });
    const ref = memoryReference(retention);
    const prefix = uniquePrefix();
    const opts = { retention, maxSeries: 100_000, streamSeqTtlMs: 900_000, now: Date.now };
    const writers = await Promise.all([0, 1, 2].map(async () => new GroupCommitStore(await makeRedisStore(redis!.url, opts, { prefix }), { intervalMs: 5 })));
    t.after(() => Promise.all(writers.map((s) => s.close())));
    for (const b of w.batches) ref.partition.apply(batchOf(b.samples), b.receivedAt);
    // Every writer gets every third batch, all in flight together.
    await Promise.all(w.batches.map((b, i) => writers[i % 3]!.apply(batchOf(b.samples), b.receivedAt)));
    await compareStores(ref, writers[0]!, w, retention, { strictSources: false, strictMetrics: false, roundSummaries: true });
    // Any writer answers the same.
    await compareStores(ref, writers[2]!, w, retention, { strictSources: false, strictMetrics: false, roundSummaries: true });
  });
});

describe('live updates with several writers', () => {
  test('drainUpdates: a bucket two writers share comes back whole; an unwanted one is left out', async (t) => {
    const prefix = uniquePrefix();
    const opts = { retention: DEFAULT_RETENTION, maxSeries: 1000, streamSeqTtlMs: 900_000, now: Date.now };
    const [a, b] = await Promise.all([makeRedisStore(redis!.url, opts, { prefix }), makeRedisStore(redis!.url, opts, { prefix })]);
    t.after(() => Promise.all([a.close(), b.close()]));
    const T = baseTime();
    const wants: Array<((metric: string, source: string) => boolean) | undefined> = [undefined, (m) => m === 'cpu', () => false];
    for (const wanted of wants) {
      await a.drainUpdates();
      const ts = T + (wanted === undefined ? 0 : wanted('cpu', 'x') ? 1000 : 2000);
      await b.apply(batchOf([{ source: 'web-1', metric: 'cpu', value: 2, ts: ts + 10 }, { source: 'web-1', metric: 'cpu', value: 7, ts: ts + 900 }]), Date.now());
      await a.apply(batchOf([{ source: 'web-1', metric: 'cpu', value: 5, ts: ts + 500 }]), Date.now());
      const updates = await a.drainUpdates(wanted);
      if (wanted === undefined || wanted('cpu', 'web-1')) {
        const [u] = updates;
        assert.deepEqual([u!.start, u!.count, u!.sum, u!.min, u!.max, u!.last, u!.lastTs], [ts, 3, 14, 2, 7, 7, ts + 900], 'merged with the other writer');
      } else assert.deepEqual(updates, [], 'not wanted: not built');
    }
  });
});

// Both write paths: a standalone Redis' write connection (transactions), and fp_put (as on a Cluster).
for (const via of ['pipe', 'fp_put'] as const) describe(`writer (${via}): ticks in flight together`, () => {
  const shape = { fineN: 10, coarseN: 12, ch: 4 };
  const opts = { retention: SMALL_RETENTION, maxSeries: 1000, streamSeqTtlMs: 900_000, now: Date.now };
  /** A PartialWriter on its own connection, and a store under the same prefix to read back with. */
  async function setup(t: { after(fn: () => Promise<unknown>): void }): Promise<{ writer: PartialWriter; client: AnyRedis; pipe: RespPipe | undefined; reader: RedisStateStore }> {
    const prefix = uniquePrefix();
    const conn = new RedisConnection({ url: redis!.url, commandTimeoutMs: 5000, log });
    const reader = await makeRedisStore(redis!.url, opts, { prefix, chunkBuckets: shape.ch });
    t.after(() => Promise.all([conn.close(), reader.close()]));
    await waitFor(() => conn.ready(), 10_000, 'writer connection');
    assert.ok(conn.pipe !== undefined, 'a standalone Redis gets a write connection');
    return { writer: new PartialWriter(new RedisKeys(prefix), shape, 3_600_000), client: conn.client!, pipe: via === 'pipe' ? conn.pipe : undefined, reader };
  }
  const tick = (samples: S[]): TickDelta => {
    const b = new DeltaBuilder(SMALL_RETENTION);
    b.add(batchOf(samples), Date.now());
    return b.take();
  };
  /** The client, with the replies of its reads held back 50 ms (sent at once: they see Redis as it is now). */
  const lateReads = (c: AnyRedis): AnyRedis => new Proxy(c, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const f = (v as (...a: unknown[]) => unknown).bind(target);
      if (prop !== 'hgetall' && prop !== 'hmgetBuffer') return f;
      return async (...args: unknown[]) => {
        const r = await f(...args);
        await new Promise((resolve) => setTimeout(resolve, 50));
        return r;
      };
    },
  });
  const counts = async (reader: RedisStateStore, T: number): Promise<number[]> =>
    (await reader.series({ metric: 'cpu', source: 'a', ring: 'fine', fromMs: T, toMs: T + 9000, stepMs: 1000 })).points.map((p) => p[1]);

  test('two ticks that both reload a source (it left memory) keep both ticks\' samples', async (t) => {
    const { writer, client, pipe, reader } = await setup(t);
    const T = baseTime(20_000); // a whole number of chunks (4 s) and coarse buckets (5 s)
    await writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 1, ts: T }]), Date.now(), pipe);
    writer.forget();
    const [x, y] = await Promise.all([
      writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 2, ts: T + 1000 }]), Date.now(), pipe),
      writer.write(lateReads(client), tick([{ source: 'a', metric: 'cpu', value: 3, ts: T + 2000 }]), Date.now(), pipe),
    ]);
    assert.deepEqual([x.failed.size, y.failed.size], [0, 0]);
    assert.deepEqual(await counts(reader, T), [1, 1, 1]);
  });

  test('a chunk read for one tick does not overwrite what an earlier tick wrote to it meanwhile', async (t) => {
    const { writer, client, pipe, reader } = await setup(t);
    const T = baseTime(20_000); // a whole number of chunks (4 s) and coarse buckets (5 s)
    // Heads in chunks 0, 1, 2: chunk 0 leaves memory after the last write (only the head chunk
    // and the one before it stay).
    for (const dt of [0, 5000, 9000]) await writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 1, ts: T + dt }]), Date.now(), pipe);
    // Two late samples for chunk 0 in two ticks: each reads chunk 0 from Redis before either writes.
    const [x, y] = await Promise.all([
      writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 2, ts: T + 1000 }]), Date.now(), pipe),
      writer.write(lateReads(client), tick([{ source: 'a', metric: 'cpu', value: 3, ts: T + 2000 }]), Date.now(), pipe),
    ]);
    assert.deepEqual([x.failed.size, y.failed.size], [0, 0]);
    assert.deepEqual(await counts(reader, T), [1, 1, 1, 1, 1]);
  });

  test('a source with thousands of series in one tick (fp_put: every list it unpacks passes Lua\'s stack limit)', async (t) => {
    // 6,000 new series: 12,002 info items in one call; then every head moves on: 12,004 data items.
    // struct.unpack returns its values on Lua's stack (8,000 slots), so fp_put must cut the lists.
    const { writer, client, pipe, reader } = await setup(t);
    const T = baseTime(20_000);
    const wide = (ts: number, v: number): S[] => Array.from({ length: 6000 }, (_, i) => ({ source: 'big', metric: `m${i}`, value: v + i, ts }));
    for (const [dt, v] of [[100, 0], [1100, 1]] as const) {
      const r = await writer.write(client, tick(wide(T + dt, v)), Date.now(), pipe);
      assert.equal(r.failed.size, 0, [...r.failed.values()].map((e) => e.message).join('; '));
    }
    for (const i of [0, 2999, 5999]) {
      const q = { metric: `m${i}`, source: 'big', ring: 'fine' as const, fromMs: T, toMs: T + 2000, stepMs: 1000 };
      assert.deepEqual((await reader.series(q)).points, [[T, 1, i, i, i, i], [T + 1000, 1, i + 1, i + 1, i + 1, i + 1]]);
    }
  });

  test('a tick waiting for chunk reads while the partial is dropped fails that source with state_unavailable', async (t) => {
    const { writer, client, pipe } = await setup(t);
    const T = baseTime(20_000); // a whole number of chunks (4 s) and coarse buckets (5 s)
    for (const dt of [0, 5000, 9000]) await writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 1, ts: T + dt }]), Date.now(), pipe);
    const late = writer.write(client, tick([{ source: 'a', metric: 'cpu', value: 2, ts: T + 1000 }]), Date.now(), pipe);
    writer.forget(); // as a reconnect does (an earlier tick's failed write drops the partial alike)
    const r = await late;
    assert.equal(r.failed.get('a')?.code, ErrorCode.STATE_UNAVAILABLE);
    assert.deepEqual(r.written, []);
  });
});

describe('layout: head buckets in HB, every other bucket in chunks', () => {
  test('a tick writes HB (a chunk only when a head moves on); reads and live updates merge head and chunk buckets of another writer', async (t) => {
    const prefix = uniquePrefix();
    const opts = { retention: SMALL_RETENTION, maxSeries: 1000, streamSeqTtlMs: 900_000, now: Date.now };
    const [a, b] = await Promise.all([makeRedisStore(redis!.url, opts, { prefix }), makeRedisStore(redis!.url, opts, { prefix })]);
    const raw = new Redis(redis!.port, '127.0.0.1');
    t.after(async () => {
      raw.disconnect();
      await Promise.all([a.close(), b.close()]);
    });
    const T = baseTime(20_000);
    await a.apply(batchOf([{ source: 'a', metric: 'cpu', value: 1, ts: T + 100 }, { source: 'a', metric: 'cpu', value: 4, ts: T + 200 }]), Date.now());
    const [data] = await raw.keys(`${prefix}{s:a}:d:*`);
    assert.deepEqual((await raw.hkeys(data!)).sort(), ['HB', 'L'], 'two samples in the head bucket: no chunk');
    // The head moves on: bucket T (2 samples) goes into its fine chunk, overflow included.
    await a.apply(batchOf([{ source: 'a', metric: 'cpu', value: 2, ts: T + 1100 }]), Date.now());
    const c = Math.floor(T / 1000 / 4);
    assert.deepEqual((await raw.hkeys(data!)).sort(), ['1F' + c, 'HB', 'L'].sort(), 'one field: the chunk, then its overflow');
    const q = { metric: 'cpu', source: 'a', ring: 'fine' as const, fromMs: T, toMs: T + 2000, stepMs: 1000 };
    assert.deepEqual((await b.series(q)).points, [[T, 2, 5, 1, 4, 4], [T + 1000, 1, 2, 2, 2, 2]]);
    // fp_heads: b's live update of a bucket merges a's part, from a's chunk (T) and from a's HB (T + 1000).
    await b.drainUpdates();
    await b.apply(batchOf([{ source: 'a', metric: 'cpu', value: 8, ts: T + 300 }]), Date.now());
    const [u] = await b.drainUpdates();
    assert.deepEqual([u!.start, u!.count, u!.sum, u!.min, u!.max, u!.last], [T, 3, 13, 1, 8, 8]);
    await b.apply(batchOf([{ source: 'a', metric: 'cpu', value: 0, ts: T + 1050 }]), Date.now());
    const [v] = await b.drainUpdates();
    assert.deepEqual([v!.start, v!.count, v!.sum, v!.min, v!.max, v!.last], [T + 1000, 2, 2, 0, 2, 2]);
  });
});

describe('TTLs, keys, outage', () => {
  test('buckets, sources and stream seqs expire per the retention', async (t) => {
    const prefix = uniquePrefix();
    const T = baseTime();
    const store = await makeRedisStore(redis!.url, { retention: DEFAULT_RETENTION, maxSeries: 1000, streamSeqTtlMs: 900_000, now: Date.now }, { prefix });
    const raw = new Redis(redis!.port, '127.0.0.1');
    t.after(async () => {
      raw.disconnect();
      await store.close();
    });
    await store.apply(batchOf([{ source: 'web-1', metric: 'cpu', value: 1, ts: T + 500 }]), Date.now());
    await store.setStreamSeq('agent-9', 42);
    const keys = (await raw.keys(`${prefix}*`)).sort();
    const writer = /:i:([0-9a-f]+)$/.exec(keys.find((k) => k.includes(':i:')) ?? '')?.[1];
    assert.ok(writer !== undefined, `a writer partial among ${keys.join(' ')}`);
    const src = `${prefix}{s:web-1}:`;
    assert.deepEqual(keys, [`${prefix}metrics`, `${prefix}ms:cpu`, `${prefix}seq:agent-9`, `${prefix}series`, `${prefix}sources`, `${src}d:${writer}`, `${src}i:${writer}`, `${src}w`].sort());
    // A source's keys live for the coarse retention (plus slack) after the writer's last write.
    for (const k of [`${src}w`, `${src}i:${writer}`, `${src}d:${writer}`]) {
      const ttl = await raw.pttl(k);
      assert.ok(ttl > DEFAULT_RETENTION.coarseSpanMs && ttl <= DEFAULT_RETENTION.coarseSpanMs + 15 * 60_000, `${k} TTL ${ttl}`);
    }
    const seqTtl = await raw.pttl(`${prefix}seq:agent-9`);
    assert.ok(seqTtl > 900_000 - 60_000 && seqTtl <= 900_000, `stream seq TTL ${seqTtl}`);
  });

  test('while Redis is down: not ready, writes and reads fail fast with state_unavailable; it recovers alone', async (t) => {
    const own = await startRedis();
    let current = own;
    t.after(() => current.stop());
    const ups: boolean[] = [];
    const store = new RedisStateStore({
      state: { redisUrl: own.url, redisKeyPrefix: 'o:', maxSeries: 1000, streamSeqTtlMs: 900_000 },
      retention: DEFAULT_RETENTION, commandTimeoutMs: 5000, log, hooks: { onAvailability: (up) => ups.push(up) },
    });
    const grouped = new GroupCommitStore(store, { intervalMs: 10 });
    t.after(() => grouped.close());
    await waitFor(() => grouped.ready(), 10_000, 'store to connect');
    const T = baseTime();
    await grouped.apply(batchOf([{ source: 'a', metric: 'cpu', value: 1, ts: T }]), Date.now());

    await own.stop();
    await waitFor(() => !grouped.ready(), 10_000, 'store to notice the outage');
    const isUnavailable = (err: unknown): boolean => err instanceof FleetPulseError && err.code === ErrorCode.STATE_UNAVAILABLE && err.httpStatus === 503 && err.retryAfterS !== undefined;
    await assert.rejects(grouped.apply(batchOf([{ source: 'a', metric: 'cpu', value: 2, ts: T }]), Date.now()), isUnavailable);
    await assert.rejects(store.apply(batchOf([{ source: 'a', metric: 'cpu', value: 2, ts: T }]), Date.now()), isUnavailable);
    await assert.rejects(store.sources(Date.now()), isUnavailable);
    await assert.rejects(store.streamSeq('x'), isUnavailable);

    current = await startRedis([], { port: own.port });
    await waitFor(() => grouped.ready(), 15_000, 'store to reconnect');
    // The restarted server is empty (no persistence here); the store rewrites its indexes.
    await grouped.apply(batchOf([{ source: 'a', metric: 'cpu', value: 3, ts: T }]), Date.now());
    assert.deepEqual((await grouped.sources(Date.now())).map((s) => s.source), ['a']);
    const pts = (await grouped.series({ metric: 'cpu', source: 'a', ring: 'fine', fromMs: T, toMs: T + 1000, stepMs: 1000 })).points;
    assert.deepEqual(pts, [[T, 1, 3, 3, 3, 3]]);
    assert.deepEqual(ups, [true, false, true]);
  });
});
});

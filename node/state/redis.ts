/**
 * Redis state (DESIGN.md §2 `state: redis`): every bucket, source, metric and stream seq lives in
 * Redis (key layout: redis-keys.ts), so any worker of any instance sharing the Redis gives the same
 * answers — the memory store's answers, built by the same merge.ts code from the same bucket
 * semantics (the contract suite checks both).
 *
 * Writes come as one commit per group-commit tick (aggregate/group-commit.ts): the tick's samples,
 * pre-aggregated into bucket deltas (aggregate/delta.ts), are merged into this worker's own
 * partials and written atomically, one MULTI/EXEC transaction per part of whole requests on a
 * standalone Redis (resp-pipe.ts), one fp_put script per source on a Cluster (redis-writer.ts) — plus
 * the index updates that are due (redis-index.ts). Each writer owns its partials, so concurrent
 * writers never race on a bucket; reads merge all partials of a source like memory mode merges
 * partitions, exactly.
 * apply() resolves only after Redis confirmed the write; while Redis is unreachable it rejects at
 * once with STATE_UNAVAILABLE (HTTP 503 + Retry-After), nothing is queued.
 */
import type { FleetPulseError } from '../errors.js';
import type { RetentionConfig, StateConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { DeltaBuilder, type FieldCache, type TickDelta } from '../aggregate/delta.js';
import type { CommitEntry, CommitWriter } from '../aggregate/group-commit.js';
import type { SampleBatch } from '../protocol/samples.js';
import { addAtStep, mergeBucket, mergeMetrics, mergeSeries, mergeSources, mergeSummary, mergeTagSet, SummaryAccumulator } from './merge.js';
import { decodeHeads, decodeMeta, decodeRead, type RawBucket, type ReadSeries } from './redis-codec.js';
import { RedisConnection, toStateError, unavailable, type AnyRedis } from './redis-client.js';
import { RedisKeys } from './redis-keys.js';
import { RedisIndexes } from './redis-index.js';
import type { PartialSource } from './redis-partial.js';
import { decodeLiveness, PartialWriter } from './redis-writer.js';
import type {
  BucketPartial, BucketUpdate, MetricAnswer, MetricPartial, SeriesAnswer, SeriesQuery, SourceAnswer, SourcePartial,
  StateStore, StoreStats, SummaryAnswer, SummaryPartial, SummaryQuery,
} from './store.js';

/** Logical operations (the `op` label of fleetpulse_redis_command_* metrics; never keys or raw commands). */
export type RedisStoreOp = 'commit' | 'query' | 'seq';

export interface RedisStoreHooks {
  /** Redis became usable / unusable. */
  onAvailability?: (up: boolean) => void;
  /** An operation finished (commit = one group-commit round trip); ok = Redis answered. */
  onOp?: (op: RedisStoreOp, seconds: number, ok: boolean) => void;
}

export interface RedisStoreOptions {
  state: Pick<StateConfig, 'redisUrl' | 'redisKeyPrefix' | 'maxSeries' | 'streamSeqTtlMs'>;
  retention: RetentionConfig;
  /** Bound on every Redis command, ms (ingest.applyTimeoutMs). */
  commandTimeoutMs: number;
  log: Logger;
  now?: () => number;
  /** Buckets per stored chunk (tests use small chunks to exercise chunk expiry). @default 8 */
  chunkBuckets?: number;
  hooks?: RedisStoreHooks;
}

/**
 * Buckets per stored chunk (one hash field): small enough that rewriting a chunk when a head moves
 * out of it is cheap (fine 80 B, 320 B with its overflow; coarse 304 B), large enough to keep the
 * field count — and Redis' per-field memory overhead — low (~120 fields per series at the default
 * retention: 75 fine, 45 coarse).
 */
const DEFAULT_CHUNK_BUCKETS = 8;
/**
 * Slack on key expiry, ms: covers samples up to ingest.maxFutureMs (5 min) ahead of the write,
 * the once-a-minute TTL refresh, and clock skew between workers and Redis.
 */
const EXPIRY_SLACK_MS = 10 * 60_000;
/** How often idle partials leave memory. */
const SWEEP_MS = 30_000;

export class RedisStateStore implements StateStore, CommitWriter {
  readonly #o: RedisStoreOptions;
  readonly #conn: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #now: () => number;
  readonly #ch: number;
  readonly #fineN: number;
  readonly #coarseN: number;
  readonly #coarseOffUnit: number;
  /** The global indexes (series limit, sources, metrics) as this worker maintains them. */
  readonly #index: RedisIndexes;
  /** This worker's partials and their writes. */
  readonly #writer: PartialWriter;
  readonly #sweep: NodeJS.Timeout;
  /**
   * Fine head buckets written since the last drainUpdates(), one per series (newest wins): source →
   * `<metric>NUL<tags>` → bucket. By source first, as a tick's writes come and as drainUpdates()
   * reads them back, so no per-series key string is built.
   */
  /** Series fields of untagged metrics, shared by every tick's DeltaBuilder. */
  readonly #fields: FieldCache = new Map();
  /** Partials written since the last drainUpdates() (their `live` series are what changed). */
  #updates = new Set<PartialSource>();

  constructor(o: RedisStoreOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#keys = new RedisKeys(o.state.redisKeyPrefix);
    this.#index = new RedisIndexes(this.#keys, { maxSeries: o.state.maxSeries, coarseSpanMs: o.retention.coarseSpanMs });
    const r = o.retention;
    this.#ch = o.chunkBuckets ?? DEFAULT_CHUNK_BUCKETS;
    this.#fineN = r.fineSpanMs / r.fineStepMs;
    this.#coarseN = r.coarseSpanMs / r.coarseStepMs;
    this.#coarseOffUnit = Math.ceil(r.coarseStepMs / 65535);
    this.#writer = new PartialWriter(this.#keys, { fineN: this.#fineN, coarseN: this.#coarseN, ch: this.#ch }, r.coarseSpanMs + EXPIRY_SLACK_MS);
    this.#sweep = setInterval(() => this.#writer.sweep(this.#now()), SWEEP_MS);
    this.#sweep.unref();
    this.#conn = new RedisConnection({
      url: o.state.redisUrl,
      commandTimeoutMs: o.commandTimeoutMs,
      log: o.log,
      ...(o.hooks?.onAvailability ? { onAvailability: o.hooks.onAvailability } : {}),
      // Redis may have restarted (empty, or without our last writes): forget what memory holds of
      // it, so index entries are rewritten and partials reload from what Redis really has.
      onReady: () => {
        this.#index.forget();
        this.#writer.forget();
      },
    });
  }

  ready(): boolean {
    return this.#conn.ready();
  }

  /** Standalone or Cluster (for logs and tests). */
  get isCluster(): boolean {
    return this.#conn.isCluster;
  }

  #client(): AnyRedis {
    const c = this.#conn.client;
    if (c === undefined || !this.#conn.ready()) throw unavailable('redis is not connected');
    return c;
  }

  /** Run one logical operation: coded errors, and the op's duration/outcome reported. */
  async #run<T>(op: RedisStoreOp, fn: (c: AnyRedis) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const r = await fn(this.#client());
      this.#o.hooks?.onOp?.(op, (performance.now() - started) / 1000, true);
      return r;
    } catch (err) {
      this.#o.hooks?.onOp?.(op, (performance.now() - started) / 1000, false);
      throw toStateError(err);
    }
  }

  #liveFloor(now: number): number {
    return this.#index.liveFloor(now);
  }

  // ---------------------------------------------------------------- writes

  async apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    const [err] = await this.commit([{ batch, receivedAt }]);
    if (err) throw err;
  }

  /**
   * Write a tick's entries in one round trip. Per entry: null when written, else why not
   * (SERIES_LIMIT for an entry that would pass state.maxSeries, STATE_UNAVAILABLE when Redis
   * failed). Never throws.
   */
  async commit(entries: readonly CommitEntry[]): Promise<Array<FleetPulseError | null>> {
    const started = performance.now();
    const results: Array<FleetPulseError | null> = entries.map(() => null);
    let written = 0;
    let ok = true;
    try {
      const client = this.#client();
      const now = this.#now();
      const build = (): TickDelta => {
        let samples = 0;
        for (const e of entries) samples += e.batch.length;
        const builder = new DeltaBuilder(this.#o.retention, samples, this.#fields);
        entries.forEach((e, i) => {
          if (results[i] === null) builder.add(e.batch, e.receivedAt);
        });
        return builder.take();
      };
      let delta = build();
      if (await this.#index.admit(client, entries, delta, results, now)) delta = build(); // without rejected entries
      if (delta.samples === 0) return results;
      const failedSources = await this.#write(client, delta, now);
      entries.forEach((e, i) => {
        if (results[i] !== null) return;
        const failed = failedSources.size === 0 ? undefined : e.batch.source.find((s) => failedSources.has(s));
        if (failed !== undefined) {
          results[i] = failedSources.get(failed)!;
          ok = false;
        } else written += e.batch.length;
      });
      return results;
    } catch (err) {
      const e = toStateError(err);
      ok = false;
      written = 0;
      return results.map((r) => r ?? e);
    } finally {
      if (written > 0 || !ok) this.#o.hooks?.onOp?.('commit', (performance.now() - started) / 1000, ok);
    }
  }

  /** Send one tick; resolves with the sources whose write failed, and why (none on success). */
  async #write(client: AnyRedis, delta: TickDelta, now: number): Promise<Map<string, FleetPulseError>> {
    const index = this.#index.write(client, delta, now);
    const [written] = await Promise.all([this.#writer.write(client, delta, now, this.#conn.pipe), index]);
    for (const p of written.written) this.#updates.add(p);
    return written.failed;
  }

  /**
   * The buckets this worker wrote since the last call (those `wanted`, when given: the rest are
   * never built), as they are in Redis: where other writers hold a partial of the source too,
   * their part of each bucket is read back and merged — one script call per live flush (per
   * source on Cluster). If that read fails they carry this writer's part.
   */
  async drainUpdates(wanted?: (metric: string, source: string) => boolean): Promise<BucketUpdate[]> {
    const pending = this.#updates;
    this.#updates = new Set();
    if (pending.size === 0) return [];
    const step = this.#o.retention.fineStepMs;
    const all: BucketUpdate[] = [];
    const fields: string[] = [];
    const bySource = new Map<string, Array<{ field: string; u: BucketUpdate }>>();
    for (const p of pending) {
      if (p.dropped) continue;
      const from = all.length;
      p.takeLive(step, all, fields, wanted);
      if (all.length === from) continue;
      const l: Array<{ field: string; u: BucketUpdate }> = [];
      for (let i = from; i < all.length; i++) l.push({ field: fields[i]!, u: all[i]! });
      bySource.set(p.source, l);
    }
    const c = this.#conn.client;
    if (c !== undefined && this.#conn.ready() && bySource.size > 0) {
      // One call per flush (standalone), per source on Cluster; each call's arguments bounded.
      const calls: Array<Array<[string, Array<{ field: string; u: BucketUpdate }>]>> = [];
      let cur: Array<[string, Array<{ field: string; u: BucketUpdate }>]> = [];
      let args = 0;
      for (const [source, list] of bySource) {
        for (let i = 0; i < list.length; i += 400) {
          const part = list.slice(i, i + 400);
          if (cur.length > 0 && (this.#conn.isCluster || args + 2 * part.length > 4000)) {
            calls.push(cur);
            cur = [];
            args = 0;
          }
          cur.push([source, part]);
          args += 2 * part.length + 2;
        }
      }
      if (cur.length > 0) calls.push(cur);
      await Promise.all(calls.map(async (group) => {
        try {
          const keys = group.map(([source]) => this.#keys.writers(source));
          const argv: string[] = [this.#writer.id, String(this.#ch)];
          for (const [, list] of group) {
            argv.push(String(list.length));
            for (const { field, u } of list) argv.push(field, String(u.start / step));
          }
          for (const [k, n, b] of decodeHeads(await c.fpHeadsBuffer(keys.length, ...keys, ...argv))) {
            const u = group[k - 1]![1][n - 1]!.u;
            const merged: BucketPartial = [u.start, u.count, u.sum, u.min, u.max, u.last, u.lastTs];
            mergeBucket(merged, [u.start, b[1], b[2], b[3], b[4], b[5], u.start + b[6]]);
            [, u.count, u.sum, u.min, u.max, u.last, u.lastTs] = merged;
          }
        } catch {
          // Live updates are best effort; the dashboard refills over REST.
        }
      }));
    }
    return all;
  }

  // ---------------------------------------------------------------- reads

  sources(now: number): Promise<SourceAnswer[]> {
    return this.#run('query', async (c) => {
      const floor = this.#liveFloor(now);
      const names = await c.zrangebyscore(this.#keys.sources, `(${floor}`, '+inf');
      void c.zremrangebyscore(this.#keys.sources, '-inf', floor).catch(() => {});
      const writers = await Promise.all(names.map((s) => c.smembers(this.#keys.writers(s))));
      const pairs = names.flatMap((source, i) => writers[i]!.map((w) => [source, w] as const));
      const [infos, live] = await Promise.all([
        Promise.all(pairs.map(([s, w]) => c.hgetall(this.#keys.info(s, w)))),
        Promise.all(pairs.map(([s, w]) => c.hgetBuffer(this.#keys.data(s, w), 'L'))),
      ]);
      // One partial per writer; mergeSources combines them (lastSeen: newest; interval: longest).
      const parts: SourcePartial[] = [];
      pairs.forEach(([source], i) => {
        const L = decodeLiveness(live[i] ?? null);
        if (L === undefined) return; // expired since it was indexed
        const [ls, iv] = L;
        const metrics = new Set<string>();
        for (const f of Object.keys(infos[i]!)) {
          const nul = f.indexOf('\u0000');
          if (nul > 0) metrics.add(f.slice(0, nul));
        }
        parts.push({ source, lastSeen: ls, intervalMs: Math.round(iv), metrics: [...metrics] });
      });
      return mergeSources([parts], now);
    });
  }

  metrics(): Promise<MetricAnswer[]> {
    return this.#run('query', async (c) => {
      const floor = this.#liveFloor(this.#now());
      const all = await c.hgetallBuffer(this.#keys.metrics);
      const names = Object.keys(all);
      const counts = await Promise.all(names.map((m) => c.zcount(this.#keys.metricSources(m), `(${floor}`, '+inf')));
      const parts: MetricPartial[] = [];
      names.forEach((metric, i) => {
        if (counts[i] === 0) {
          // No source with data in the retention: forget the metric (a writer re-creates both
          // entries on its next tick with that metric).
          void Promise.all([c.hdel(this.#keys.metrics, metric), c.zremrangebyscore(this.#keys.metricSources(metric), '-inf', floor)]).catch(() => {});
          return;
        }
        const meta = decodeMeta(all[metric]!);
        parts.push({ metric, unit: meta.unit, kind: meta.kind === 1 ? 'counter' : 'gauge', updatedAt: meta.updatedAt, sources: counts[i]! });
      });
      return mergeMetrics([parts]);
    });
  }

  /** fp_read of one source: its series of `metric` (one tag set or all) in a bucket range, per writer. */
  async #read(c: AnyRedis, source: string, metric: string, tags: string | undefined, ring: 'fine' | 'coarse', fromMs: number, toMs: number): Promise<ReadSeries[]> {
    const r = this.#o.retention;
    const w = ring === 'fine' ? r.fineStepMs : r.coarseStepMs;
    const b0 = Math.max(Math.ceil(fromMs / w), -1e15);
    const b1 = Math.min(Math.floor(toMs / w), 1e15);
    const reply = await c.fpReadBuffer(
      this.#keys.writers(source), this.#keys.sourceBase(source), metric, tags === undefined ? '0' : '1', tags ?? '',
      ring === 'fine' ? 'f' : 'c', String(b0), String(b1), String(ring === 'fine' ? this.#fineN : this.#coarseN), String(this.#ch),
    );
    return decodeRead(reply);
  }

  /** Each bucket as [start, count, sum, min, max, last, lastTs], ascending (the memory rings' visitor order). */
  #visit(buckets: readonly RawBucket[], ring: 'fine' | 'coarse', fn: (start: number, count: number, sum: number, min: number, max: number, last: number, lastTs: number) => void): void {
    const r = this.#o.retention;
    const w = ring === 'fine' ? r.fineStepMs : r.coarseStepMs;
    const unit = ring === 'fine' ? 1 : this.#coarseOffUnit;
    for (const [b, count, sum, min, max, last, off] of buckets) {
      const start = b * w;
      fn(start, count, sum, min, max, last, start + off * unit);
    }
  }

  series(q: SeriesQuery): Promise<SeriesAnswer> {
    return this.#run('query', async (c) => {
      const read = await this.#read(c, q.source, q.metric, q.tags, q.ring, q.fromMs, q.toMs);
      const out = new Map<number, BucketPartial>();
      for (const s of read) this.#visit(s.buckets, q.ring, (start, count, sum, min, max, last, lastTs) => addAtStep(out, q.stepMs, start, count, sum, min, max, last, lastTs));
      return mergeSeries([[...out.values()]], q);
    });
  }

  summary(q: SummaryQuery, windowText: string): Promise<SummaryAnswer> {
    return this.#run('query', async (c) => {
      const r = this.#o.retention;
      const step = q.ring === 'fine' ? r.fineStepMs : r.coarseStepMs;
      // Buckets that start inside the window [now - window, now] (as the memory store).
      const fromMs = Math.floor((q.now - q.windowMs) / step) * step + step;
      const floor = this.#liveFloor(this.#now());
      const sources = await c.zrangebyscore(this.#keys.metricSources(q.metric), `(${floor}`, '+inf');
      void c.zremrangebyscore(this.#keys.metricSources(q.metric), '-inf', floor).catch(() => {});
      const reads = await Promise.all(sources.map((s) => this.#read(c, s, q.metric, undefined, q.ring, fromMs, q.now)));
      const parts: SummaryPartial[] = [];
      sources.forEach((source, i) => {
        let cur: SummaryPartial | undefined;
        for (const s of mergeWriters(reads[i]!)) {
          const acc = new SummaryAccumulator();
          this.#visit(s.buckets, q.ring, (_start, count, sum, min, max, last, lastTs) => acc.add(count, sum, min, max, last, lastTs));
          if (acc.count === 0) continue;
          const p = acc.partial(source, s.counter);
          if (cur === undefined) cur = p;
          else mergeTagSet(cur, p);
        }
        if (cur !== undefined) parts.push(cur);
      });
      return mergeSummary([parts], q, windowText);
    });
  }

  // ---------------------------------------------------------------- streams

  streamSeq(streamId: string): Promise<number> {
    return this.#run('seq', async (c) => {
      const v = await c.get(this.#keys.streamSeq(streamId));
      return v === null ? 0 : Number(v);
    });
  }

  setStreamSeq(streamId: string, seq: number): Promise<void> {
    return this.#run('seq', async (c) => {
      await c.fpSeq(this.#keys.streamSeq(streamId), String(seq), this.#o.state.streamSeqTtlMs);
    });
  }

  stats(): StoreStats {
    // Series this worker wrote recently; the total lives in Redis (P:series), not per worker.
    return { series: this.#index.knownSeries, bytes: 0 };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#conn.close();
  }
}

/**
 * One series per field, its buckets merged across the writers holding a partial of it (count and
 * sum add, min/max compare, last by offset), so a summary sees each bucket whole.
 */
function mergeWriters(read: readonly ReadSeries[]): Array<{ counter: boolean; buckets: RawBucket[] }> {
  const by = new Map<string, { counter: boolean; buckets: Map<number, RawBucket> }>();
  for (const s of read) {
    let e = by.get(s.field);
    if (e === undefined) by.set(s.field, (e = { counter: false, buckets: new Map() }));
    e.counter ||= s.counter;
    for (const b of s.buckets) {
      const cur = e.buckets.get(b[0]);
      if (cur === undefined) e.buckets.set(b[0], [...b]);
      else {
        const m: BucketPartial = [cur[0], cur[1], cur[2], cur[3], cur[4], cur[5], cur[6]];
        mergeBucket(m, [b[0], b[1], b[2], b[3], b[4], b[5], b[6]]);
        e.buckets.set(b[0], m);
      }
    }
  }
  return [...by.values()].map((e) => ({ counter: e.counter, buckets: [...e.buckets.values()].sort((a, b) => a[0] - b[0]) }));
}

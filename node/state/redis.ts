/**
 * Redis state (DESIGN.md §2 `state: redis`): workers are stateless; every bucket, source, metric
 * and stream seq lives in Redis (key layout: redis-keys.ts; Lua: redis-scripts.ts), so any worker
 * of any instance sharing the Redis gives the same answers — the memory store's answers, built by
 * the same merge.ts code from the same bucket semantics (the contract suite checks both).
 *
 * Writes come as one commit per group-commit tick (aggregate/group-commit.ts): the tick's samples,
 * pre-aggregated into bucket deltas (aggregate/delta.ts), go out in one round trip — one fp_write
 * Lua call for all sources on a standalone Redis (atomic: a tick is applied wholly or not at all),
 * one per source on a Cluster (each atomic, all auto-pipelined per node) — plus the few index
 * commands that are due. Lua makes min/max/last exact with any number of concurrent writers.
 * apply() resolves only after Redis confirmed the write; while Redis is unreachable it rejects at
 * once with STATE_UNAVAILABLE (HTTP 503 + Retry-After), nothing is queued.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { RetentionConfig, StateConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { DeltaBuilder, type SourceDelta, type TickDelta } from '../aggregate/delta.js';
import type { CommitEntry, CommitWriter } from '../aggregate/group-commit.js';
import type { SampleBatch } from '../protocol/samples.js';
import { addAtStep, mergeMetrics, mergeSeries, mergeSources, mergeSummary, mergeTagSet, MIN_INTERVAL_MS, SummaryAccumulator } from './merge.js';
import { BlobWriter, decodeHeads, decodeMeta, decodeRead, encodeSource, type ReadSeries } from './redis-codec.js';
import { RedisConnection, toStateError, unavailable, type AnyRedis } from './redis-client.js';
import { RedisKeys } from './redis-keys.js';
import { RedisIndexes } from './redis-index.js';
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
 * Buckets per stored chunk (one hash field): small enough that moving a chunk into and out of Lua
 * on every write is cheap (80 B fine, 304 B coarse), large enough to keep the field count — and
 * Redis' per-field memory overhead — low (~120 fields per series at full retention).
 */
const DEFAULT_CHUNK_BUCKETS = 8;
/**
 * Slack on key expiry, ms: covers samples up to ingest.maxFutureMs (5 min) ahead of the write,
 * the once-a-minute TTL refresh, and clock skew between workers and Redis.
 */
const EXPIRY_SLACK_MS = 10 * 60_000;
/** Most series in one fp_write call on a standalone Redis (keeps each Lua call short; Redis runs scripts serially). */
const MAX_SERIES_PER_CALL = 2000;

export class RedisStateStore implements StateStore, CommitWriter {
  readonly #o: RedisStoreOptions;
  readonly #conn: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #now: () => number;
  readonly #ch: number;
  readonly #fineN: number;
  readonly #coarseN: number;
  readonly #coarseOffUnit: number;
  /** Written-once ARGV head of fp_write. */
  readonly #writeConf: Array<string | Buffer>;
  /** The global indexes (series limit, sources, metrics) as this worker maintains them. */
  readonly #index: RedisIndexes;
  /** Fine head buckets written since the last drainUpdates(), one per series (newest wins). */
  #updates = new Map<string, BucketUpdate>();

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
    this.#writeConf = [
      ...[r.fineStepMs, this.#fineN, r.coarseStepMs, this.#coarseN, this.#ch, r.coarseSpanMs, EXPIRY_SLACK_MS, r.coarseSpanMs + EXPIRY_SLACK_MS, MIN_INTERVAL_MS].map(String),
      Buffer.alloc(this.#ch * 10), Buffer.alloc(this.#ch * 30), Buffer.alloc(this.#ch * 38),
    ];
    this.#conn = new RedisConnection({
      url: o.state.redisUrl,
      commandTimeoutMs: o.commandTimeoutMs,
      log: o.log,
      ...(o.hooks?.onAvailability ? { onAvailability: o.hooks.onAvailability } : {}),
      // Redis may have restarted empty: forget which index entries exist so they are rewritten.
      onReady: () => this.#index.forget(),
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
        const builder = new DeltaBuilder(this.#o.retention);
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

  /** Send one tick; resolves with the sources whose data write failed, and why (none on success). */
  async #write(client: AnyRedis, delta: TickDelta, now: number): Promise<Map<string, FleetPulseError>> {
    const index = this.#index.write(client, delta, now);
    const groups = this.#conn.isCluster ? [...delta.sources.values()].map((s) => [s]) : groupBySize([...delta.sources.values()]);
    const w = new BlobWriter();
    const writes = groups.map(async (srcs) => {
      const keys: string[] = [];
      const argv: Array<string | Buffer> = [...this.#writeConf, String(srcs.length)];
      let series = 0;
      for (const s of srcs) {
        keys.push(this.#keys.info(s.source), this.#keys.data(s.source));
        argv.push(encodeSource(w, s));
        series += s.series.size;
      }
      try {
        const reply = await client.fpWriteBuffer(keys.length, ...keys, ...argv);
        this.#noteHeads(srcs, decodeHeads(reply, series));
        return [] as Array<[string, FleetPulseError]>;
      } catch (err) {
        const e = toStateError(err);
        if (e.code === ErrorCode.INTERNAL) throw e;
        return srcs.map((s): [string, FleetPulseError] => [s.source, e]);
      }
    });
    const [failed] = await Promise.all([Promise.all(writes), index]);
    return new Map(failed.flat());
  }

  #noteHeads(srcs: SourceDelta[], heads: ReturnType<typeof decodeHeads>): void {
    let i = 0;
    const step = this.#o.retention.fineStepMs;
    for (const s of srcs) {
      for (const sd of s.series.values()) {
        const h = heads[i++]!;
        if (h.count === 0) continue;
        const start = h.b * step;
        this.#updates.set(sd.key, {
          metric: sd.metric, source: s.source, tags: sd.tags, start, count: h.count, sum: h.sum, min: h.min, max: h.max,
          last: h.last, lastTs: start + h.off, receivedAt: sd.receivedAt,
        });
      }
    }
  }

  async drainUpdates(): Promise<BucketUpdate[]> {
    const u = this.#updates;
    this.#updates = new Map();
    return [...u.values()];
  }

  // ---------------------------------------------------------------- reads

  sources(now: number): Promise<SourceAnswer[]> {
    return this.#run('query', async (c) => {
      const floor = this.#liveFloor(now);
      const names = await c.zrangebyscore(this.#keys.sources, `(${floor}`, '+inf');
      void c.zremrangebyscore(this.#keys.sources, '-inf', floor).catch(() => {});
      const infos = await Promise.all(names.map((s) => c.hgetall(this.#keys.info(s))));
      const parts: SourcePartial[] = [];
      names.forEach((source, i) => {
        const h = infos[i]!;
        if (h.ls === undefined) return; // expired since it was indexed
        const metrics = new Set<string>();
        for (const f of Object.keys(h)) {
          const nul = f.indexOf('\u0000');
          if (nul > 0) metrics.add(f.slice(0, nul));
        }
        parts.push({ source, lastSeen: Number(h.ls), intervalMs: Math.round(Number(h.iv ?? 0)), metrics: [...metrics] });
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

  /** fp_read of one source: its series of `metric` (one tag set or all) in a bucket range. */
  async #read(c: AnyRedis, source: string, metric: string, tags: string | undefined, ring: 'fine' | 'coarse', fromMs: number, toMs: number): Promise<ReadSeries[]> {
    const r = this.#o.retention;
    const w = ring === 'fine' ? r.fineStepMs : r.coarseStepMs;
    const b0 = Math.max(Math.ceil(fromMs / w), -1e15);
    const b1 = Math.min(Math.floor(toMs / w), 1e15);
    const reply = await c.fpReadBuffer(
      this.#keys.info(source), this.#keys.data(source), metric, tags === undefined ? '0' : '1', tags ?? '',
      ring === 'fine' ? 'f' : 'c', String(b0), String(b1), String(ring === 'fine' ? this.#fineN : this.#coarseN), String(this.#ch),
    );
    return decodeRead(reply);
  }

  /** [start, count, sum, min, max, last, lastTs] per stored bucket, ascending (the memory rings' visitor order). */
  #visit(s: ReadSeries, ring: 'fine' | 'coarse', fn: (start: number, count: number, sum: number, min: number, max: number, last: number, lastTs: number) => void): void {
    const r = this.#o.retention;
    const w = ring === 'fine' ? r.fineStepMs : r.coarseStepMs;
    const unit = ring === 'fine' ? 1 : this.#coarseOffUnit;
    for (const [b, count, sum, min, max, last, off] of s.buckets) {
      const start = b * w;
      fn(start, count, sum, min, max, last, start + off * unit);
    }
  }

  series(q: SeriesQuery): Promise<SeriesAnswer> {
    return this.#run('query', async (c) => {
      const read = await this.#read(c, q.source, q.metric, q.tags, q.ring, q.fromMs, q.toMs);
      const out = new Map<number, BucketPartial>();
      for (const s of read) this.#visit(s, q.ring, (start, count, sum, min, max, last, lastTs) => addAtStep(out, q.stepMs, start, count, sum, min, max, last, lastTs));
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
        for (const s of reads[i]!) {
          const acc = new SummaryAccumulator();
          this.#visit(s, q.ring, (_start, count, sum, min, max, last, lastTs) => acc.add(count, sum, min, max, last, lastTs));
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
    await this.#conn.close();
  }
}

function groupBySize(sources: SourceDelta[]): SourceDelta[][] {
  const out: SourceDelta[][] = [];
  let cur: SourceDelta[] = [];
  let n = 0;
  for (const s of sources) {
    if (n > 0 && n + s.series.size > MAX_SERIES_PER_CALL) {
      out.push(cur);
      cur = [];
      n = 0;
    }
    cur.push(s);
    n += s.series.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

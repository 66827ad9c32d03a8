/**
 * In-memory state: one partition per worker. A partition owns the series of the sources hashed
 * to it (ownership.ts) and keeps their buckets in RingStore slabs. `MemoryStateStore` is a
 * single-partition StateStore (tests, one worker); the worker's PartitionedStore combines its
 * own partition with its peers' over IPC.
 */
import { SampleKind, tagsFromCanonical, TAG_SEPARATOR, type SampleBatch } from '../protocol/samples.js';
import assert from 'node:assert/strict';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { RetentionConfig } from '../config/schema.js';
import { SeriesColumns, SeriesFlag, SourceColumns } from './hot-columns.js';
import { processNames } from '../protocol/interner.js';
import { grown, grownCapacity } from '../protocol/grown.js';
import { RingStore } from './rings.js';
import { emptyExport, type PartitionExport } from './handoff.js';
import { addAtStep, mergeMetrics, mergeSeries, mergeSources, mergeSummary, mergeTagSet, MIN_INTERVAL_MS, SummaryAccumulator } from './merge.js';
import type {
  BucketPartial, BucketUpdate, MetricAnswer, MetricPartial, PartitionReader, SeriesAnswer, SeriesQuery, SourceAnswer,
  SourcePartial, StateStore, StoreStats, SummaryAnswer, SummaryPartial, SummaryQuery,
} from './store.js';

/**
 * Bytes the partition's bySourceId indexes may take in all (4 per name id up to the highest
 * indexed, per metric): a 100,000-source fleet's 10 metrics take ~4 MiB; past the budget series
 * are found through the Maps as before.
 */
const MAX_INDEX_BYTES = 64 << 20;
/** Entries of a metric's first index array. */
const INDEX_MIN = 256;
/** The index of a metric with none yet (never written: a metric gets its own array on its first entry). */
const NOT_INDEXED = new Int32Array(0);

/** A series' names; what every sample updates is in SeriesColumns (hot-columns.ts). */
interface SeriesMeta {
  metric: string;
  source: string;
  tags: string;
}

interface MetricEntry {
  unit: string;
  kind: SampleKind;
  updatedAt: number;
  /** (source or source␟tags) → series id */
  ids: Map<string, number>;
  /**
   * Tag-less series id + 1 by its source's process name id (0 = not indexed): a cache in front of
   * `ids` for batches that carry source ids (SampleBatch.sourceIds), filled as `ids` finds them.
   */
  bySourceId: Int32Array;
  sources: Map<string, number>; // source → number of series (tag sets) of this metric
}

/** A source's metrics and series; its arrival times are in SourceColumns at `index`. */
interface SourceEntry {
  index: number;
  metrics: Set<string>;
  /** Ids of the source's series (so a handoff finds them without scanning every series). */
  series: number[];
}

export class MemoryPartition implements PartitionReader {
  readonly #rings: RingStore;
  readonly #maxSeries: number;
  readonly #metrics = new Map<string, MetricEntry>();
  readonly #sources = new Map<string, SourceEntry>();
  /** Series id → metadata; undefined once a series was handed off (its id may be reused). */
  readonly #meta: Array<SeriesMeta | undefined> = [];
  readonly #series = new SeriesColumns();
  readonly #sourceCols = new SourceColumns();
  readonly #streamSeqs = new Map<string, { seq: number; expiresAt: number }>();
  readonly #streamSeqTtlMs: number;
  /** Series touched since the last drainUpdates(), each once. */
  #dirty: number[] = [];
  /** Set once the partition was handed off completely: it takes no more samples. */
  #sealed = false;
  /** The interner generation the metrics' bySourceId indexes were filled in, and their bytes in all. */
  #indexGeneration = processNames.generation;
  #indexBytes = 0;
  /** Metadata of metrics whose last series left during the current takeChunk(). */
  readonly #removedMetrics = new Map<string, MetricEntry>();

  constructor(retention: RetentionConfig, opts: { maxSeries: number; streamSeqTtlMs: number }) {
    this.#rings = new RingStore(retention);
    this.#maxSeries = opts.maxSeries;
    this.#streamSeqTtlMs = opts.streamSeqTtlMs;
  }

  /**
   * Apply a batch synchronously: all of it, or the samples at `index` (a split's view). The series
   * limit is checked before anything is written, so a rejected batch leaves the partition untouched.
   */
  apply(b: SampleBatch, receivedAt: number, index?: Int32Array): void {
    if (this.#sealed) throw sealedError();
    const n = index === undefined ? b.length : index.length;
    const nameIds = this.#nameIds(b);
    // Pass 1: resolve series ids (no writes), so the series limit can refuse the batch whole.
    const ids = new Int32Array(n);
    let fresh = 0;
    let seen: Set<string> | undefined;
    let lastMetric = '';
    let m: MetricEntry | undefined;
    for (let k = 0; k < n; k++) {
      const i = index === undefined ? k : index[k]!;
      const metric = b.metric[i]!;
      if (metric !== lastMetric) {
        m = this.#metrics.get(metric);
        lastMetric = metric;
      }
      const tags = b.tags[i]!;
      if (nameIds !== undefined && tags === '' && m !== undefined) {
        // By the source's name id: an array read instead of hashing the source (a cache miss in a large fleet).
        const nameId = nameIds[i]!;
        const indexed = nameId < m.bySourceId.length ? m.bySourceId[nameId]! : 0;
        if (indexed !== 0) {
          ids[k] = indexed - 1;
          continue;
        }
      }
      const key = tags === '' ? b.source[i]! : b.source[i]! + TAG_SEPARATOR + tags;
      const id = m?.ids.get(key);
      if (id !== undefined) {
        ids[k] = id;
        if (nameIds !== undefined && tags === '') this.#index(m!, nameIds[i]!, id);
        continue;
      }
      ids[k] = -1;
      const series = metric + '\u0000' + key;
      seen ??= new Set();
      if (!seen.has(series)) {
        seen.add(series);
        fresh++;
      }
    }
    if (fresh > 0 && this.#rings.size + fresh > this.#maxSeries) {
      throw new FleetPulseError(ErrorCode.SERIES_LIMIT, `series limit reached: ${this.#rings.size} series live, ${fresh} new ones would pass the limit of ${this.#maxSeries} per partition`);
    }
    // Pass 2: write. Metric and source entries are looked up once per run of equal names.
    let lastSource = '';
    lastMetric = '';
    m = undefined;
    const cols = this.#series;
    for (let k = 0; k < n; k++) {
      const i = index === undefined ? k : index[k]!;
      const metric = b.metric[i]!;
      const source = b.source[i]!;
      const unit = b.unit[i]!;
      const kind = b.kind[i]!;
      if (metric !== lastMetric) {
        m = this.#metrics.get(metric);
        lastMetric = metric;
        if (m === undefined) {
          m = { unit, kind, updatedAt: receivedAt, ids: new Map(), sources: new Map(), bySourceId: NOT_INDEXED };
          this.#metrics.set(metric, m);
        }
      }
      if ((unit !== '' && m!.unit !== unit) || m!.kind !== kind) {
        if (unit !== '') m!.unit = unit;
        m!.kind = kind;
        m!.updatedAt = receivedAt;
      }
      let id = ids[k]!;
      if (id === -1) {
        const tags = b.tags[i]!;
        const key = tags === '' ? source : source + TAG_SEPARATOR + tags;
        const existing = m!.ids.get(key); // created earlier in this same batch
        if (existing !== undefined) id = existing;
        else {
          id = this.#rings.allocate();
          const src = this.#entryOf(source, receivedAt);
          this.#meta[id] = { metric, source, tags };
          this.#series.init(id, src.index, false, receivedAt);
          m!.ids.set(key, id);
          if (nameIds !== undefined && tags === '') this.#index(m!, nameIds[i]!, id);
          m!.sources.set(source, (m!.sources.get(source) ?? 0) + 1);
          src.series.push(id);
          // A source's metric list changes only when it gets a new series.
          src.metrics.add(metric);
        }
      }
      if (source !== lastSource) {
        this.#sourceCols.touch(cols.source[id]!, receivedAt, MIN_INTERVAL_MS);
        lastSource = source;
      }
      const flags = cols.flags[id]!;
      cols.flags[id] = (kind === SampleKind.Counter ? flags | SeriesFlag.Counter : flags & ~SeriesFlag.Counter) | SeriesFlag.Dirty;
      if ((flags & SeriesFlag.Dirty) === 0) this.#dirty.push(id);
      cols.receivedAt[id] = receivedAt;
      this.#rings.write(id, b.ts[i]!, b.value[i]!);
    }
  }

  /**
   * The batch's source ids if they are of the interner's current generation. When the interner
   * started over, every index was filled with ids that mean nothing now: they are dropped first.
   */
  #nameIds(b: SampleBatch): Int32Array | undefined {
    const generation = processNames.generation;
    if (generation !== this.#indexGeneration) {
      for (const m of this.#metrics.values()) m.bySourceId = NOT_INDEXED;
      this.#indexBytes = 0;
      this.#indexGeneration = generation;
    }
    const hints = b.sourceIds;
    return hints !== undefined && hints.generation === generation ? hints.ids : undefined;
  }

  /** Index tag-less series `id` of `m` by its source's name id (within the partition's index budget). */
  #index(m: MetricEntry, nameId: number, id: number): void {
    if (nameId >= m.bySourceId.length) {
      const more = 4 * (grownCapacity(m.bySourceId.length, nameId, INDEX_MIN) - m.bySourceId.length);
      if (this.#indexBytes + more > MAX_INDEX_BYTES) return; // past the budget: found through `ids`
      m.bySourceId = grown(m.bySourceId, nameId, (n) => new Int32Array(n), INDEX_MIN);
      this.#indexBytes += more;
    }
    m.bySourceId[nameId] = id + 1;
  }

  /** The source's entry, created (without counting an arrival) when new. */
  #entryOf(source: string, now: number): SourceEntry {
    let e = this.#sources.get(source);
    if (e === undefined) {
      e = { index: this.#sourceCols.allocate(now, 0), metrics: new Set(), series: [] };
      this.#sources.set(source, e);
    }
    return e;
  }

  sourcesPartial(): SourcePartial[] {
    const out: SourcePartial[] = [];
    const cols = this.#sourceCols;
    for (const [source, e] of this.#sources) out.push({ source, lastSeen: cols.lastSeen[e.index]!, intervalMs: Math.round(cols.intervalMs[e.index]!), metrics: [...e.metrics] });
    return out;
  }

  metricsPartial(): MetricPartial[] {
    const out: MetricPartial[] = [];
    for (const [metric, m] of this.#metrics) {
      out.push({ metric, unit: m.unit, kind: m.kind === SampleKind.Counter ? 'counter' : 'gauge', updatedAt: m.updatedAt, sources: m.sources.size });
    }
    return out;
  }

  seriesPartial(q: SeriesQuery): BucketPartial[] {
    const m = this.#metrics.get(q.metric);
    if (m === undefined) return [];
    const ids: number[] = [];
    if (q.tags !== undefined) {
      const id = m.ids.get(q.tags === '' ? q.source : q.source + TAG_SEPARATOR + q.tags);
      if (id !== undefined) ids.push(id);
    } else {
      for (const [key, id] of m.ids) if (key === q.source || key.startsWith(q.source + TAG_SEPARATOR)) ids.push(id);
    }
    const out = new Map<number, BucketPartial>();
    const step = q.stepMs;
    for (const id of ids) {
      this.#rings.visit(id, q.ring, q.fromMs, q.toMs, (start, count, sum, min, max, last, lastTs) => addAtStep(out, step, start, count, sum, min, max, last, lastTs));
    }
    return [...out.values()];
  }

  summaryPartial(q: SummaryQuery): SummaryPartial[] {
    const m = this.#metrics.get(q.metric);
    if (m === undefined) return [];
    const step = q.ring === 'fine' ? this.#rings.fineStepMs : this.#rings.coarseStepMs;
    // Buckets that start inside the window [now - window, now].
    const fromMs = Math.floor((q.now - q.windowMs) / step) * step + step;
    const bySource = new Map<string, SummaryPartial>();
    for (const id of m.ids.values()) {
      const meta = this.#meta[id]!;
      const acc = new SummaryAccumulator();
      this.#rings.visit(id, q.ring, fromMs, q.now, (_s, count, sum, min, max, last, lastTs) => acc.add(count, sum, min, max, last, lastTs));
      if (acc.count === 0) continue;
      const p = acc.partial(meta.source, this.#series.isCounter(id));
      const cur = bySource.get(meta.source);
      if (cur === undefined) bySource.set(meta.source, p);
      else mergeTagSet(cur, p); // several tag sets of one source
    }
    return [...bySource.values()];
  }

  /**
   * Current head bucket of every series touched since the last call. Only the newest bucket is
   * reported: late samples for older buckets reach clients through the REST refill, not live.
   */
  drainUpdates(): BucketUpdate[] {
    const ids = this.#dirty;
    this.#dirty = [];
    const out: BucketUpdate[] = [];
    for (const id of ids) {
      const meta = this.#meta[id];
      const cols = this.#series;
      if (meta === undefined || (cols.flags[id]! & SeriesFlag.Dirty) === 0) continue; // handed off meanwhile (or its id reused and listed again)
      cols.flags[id]! &= ~SeriesFlag.Dirty;
      const b = this.#rings.headBucket(id);
      if (b === undefined) continue;
      out.push({ metric: meta.metric, source: meta.source, tags: meta.tags, start: b[0], count: b[1], sum: b[2], min: b[3], max: b[4], last: b[5], lastTs: b[6], receivedAt: cols.receivedAt[id]! });
    }
    return out;
  }

  streamSeq(streamId: string, now: number): number {
    const e = this.#streamSeqs.get(streamId);
    if (e === undefined) return 0;
    if (e.expiresAt < now) {
      this.#streamSeqs.delete(streamId);
      return 0;
    }
    return e.seq;
  }

  setStreamSeq(streamId: string, seq: number, now: number): void {
    const e = this.#streamSeqs.get(streamId);
    const expiresAt = now + this.#streamSeqTtlMs;
    if (e === undefined) this.#streamSeqs.set(streamId, { seq, expiresAt });
    else {
      if (seq > e.seq) e.seq = seq;
      e.expiresAt = expiresAt;
    }
  }

  /** Drop expired stream sequence records (called on a slow timer). */
  sweep(now: number): void {
    for (const [id, e] of this.#streamSeqs) if (e.expiresAt < now) this.#streamSeqs.delete(id);
  }

  stats(): StoreStats {
    return { series: this.#rings.size, bytes: this.#rings.bytes() };
  }

  /** Nothing left at all: no series, sources or stream sequence numbers. */
  get isEmpty(): boolean {
    return this.#rings.size === 0 && this.#sources.size === 0 && this.#streamSeqs.size === 0;
  }

  /** True when some source (or `stream:<id>` key) still has to move per `moves`. */
  hasMoves(moves: (key: string) => boolean): boolean {
    for (const source of this.#sources.keys()) if (moves(source)) return true;
    for (const id of this.#streamSeqs.keys()) if (moves('stream:' + id)) return true;
    return false;
  }

  /**
   * Remove the sources for which `moves(source)` holds (every series of each, with its metadata)
   * and return them, until about `maxValues` ring values are collected; stream sequence numbers
   * move by `moves('stream:' + id)`, all in one go. The caller repeats until !{@link hasMoves}
   * (a leaving worker: until {@link isEmpty}, then {@link seal} in the same turn).
   */
  takeChunk(maxValues: number, moves: (key: string) => boolean): PartitionExport {
    const out = emptyExport();
    for (const [id, e] of this.#streamSeqs) {
      if (!moves('stream:' + id)) continue;
      out.streamSeqs.push({ id, seq: e.seq, expiresAt: e.expiresAt });
      this.#streamSeqs.delete(id);
    }
    const metrics = new Set<string>();
    let values = 0;
    // Deleting the current entry while iterating a Map is safe: iteration continues with the next.
    for (const [source, e] of this.#sources) {
      if (values >= maxValues) break;
      if (!moves(source)) continue;
      for (const id of e.series) {
        const meta = this.#meta[id];
        if (meta === undefined || meta.source !== source) continue;
        const fine = this.#rings.exportRing(id, 'fine');
        const coarse = this.#rings.exportRing(id, 'coarse');
        out.series.push({ metric: meta.metric, source, tags: meta.tags, counter: this.#series.isCounter(id), receivedAt: this.#series.receivedAt[id]!, fine, coarse });
        values += fine.length + coarse.length + 8;
        metrics.add(meta.metric);
        this.#removeSeries(id, meta);
      }
      out.sources.push({ source, lastSeen: this.#sourceCols.lastSeen[e.index]!, intervalMs: this.#sourceCols.intervalMs[e.index]!, metrics: [...e.metrics] });
      this.#sources.delete(source);
      this.#sourceCols.release(e.index);
    }
    for (const metric of metrics) {
      const meta = this.#metrics.get(metric) ?? this.#removedMetrics.get(metric);
      if (meta !== undefined) out.metrics.push({ metric, unit: meta.unit, kind: meta.kind, updatedAt: meta.updatedAt });
    }
    this.#removedMetrics.clear();
    return out;
  }

  #removeSeries(id: number, meta: SeriesMeta): void {
    const m = this.#metrics.get(meta.metric);
    assert.ok(m !== undefined, 'BUG: a series without its metric entry');
    m.ids.delete(meta.tags === '' ? meta.source : meta.source + TAG_SEPARATOR + meta.tags);
    if (meta.tags === '' && this.#indexGeneration === processNames.generation) {
      // The id may be reused by another series: its index entry must not outlive it.
      const nameId = processNames.find(meta.source);
      if (nameId !== undefined && nameId < m.bySourceId.length && m.bySourceId[nameId] === id + 1) m.bySourceId[nameId] = 0;
    }
    const n = (m.sources.get(meta.source) ?? 1) - 1;
    if (n <= 0) m.sources.delete(meta.source);
    else m.sources.set(meta.source, n);
    if (m.ids.size === 0) {
      this.#metrics.delete(meta.metric);
      this.#removedMetrics.set(meta.metric, m);
      this.#indexBytes -= 4 * m.bySourceId.length;
      m.bySourceId = NOT_INDEXED;
    }
    this.#rings.release(id);
    this.#meta[id] = undefined;
    this.#series.flags[id] = 0; // not dirty: a drain that still lists the id skips it
  }

  /** After the last chunk: refuse samples (a late forward gets STATE_UNAVAILABLE and is re-routed). */
  seal(): void {
    this.#sealed = true;
  }

  /**
   * Merge a handed-off slice into this partition, exactly: buckets combine field by field (as
   * merge.ts mergeBucket), metadata keeps the newest, stream sequence numbers the highest. The
   * series limit is not applied here: history that already existed is never dropped.
   */
  importChunk(x: PartitionExport): void {
    if (this.#sealed) throw sealedError();
    for (const im of x.metrics) {
      const m = this.#metrics.get(im.metric);
      if (m === undefined) this.#metrics.set(im.metric, { unit: im.unit, kind: im.kind, updatedAt: im.updatedAt, ids: new Map(), sources: new Map(), bySourceId: NOT_INDEXED });
      else if (im.updatedAt > m.updatedAt) {
        m.unit = im.unit;
        m.kind = im.kind;
        m.updatedAt = im.updatedAt;
      }
    }
    for (const se of x.series) {
      let m = this.#metrics.get(se.metric);
      if (m === undefined) {
        m = { unit: '', kind: se.counter ? SampleKind.Counter : SampleKind.Gauge, updatedAt: 0, ids: new Map(), sources: new Map(), bySourceId: NOT_INDEXED };
        this.#metrics.set(se.metric, m);
      }
      const key = se.tags === '' ? se.source : se.source + TAG_SEPARATOR + se.tags;
      let id = m.ids.get(key);
      if (id === undefined) {
        id = this.#rings.allocate();
        const src = this.#entryOf(se.source, se.receivedAt);
        this.#meta[id] = { metric: se.metric, source: se.source, tags: se.tags };
        this.#series.init(id, src.index, se.counter, se.receivedAt);
        m.ids.set(key, id);
        m.sources.set(se.source, (m.sources.get(se.source) ?? 0) + 1);
        src.series.push(id);
      } else {
        const cols = this.#series;
        if (se.receivedAt >= cols.receivedAt[id]!) {
          cols.flags[id] = se.counter ? cols.flags[id]! | SeriesFlag.Counter : cols.flags[id]! & ~SeriesFlag.Counter;
          cols.receivedAt[id] = se.receivedAt;
        }
      }
      this.#rings.importRing(id, 'fine', se.fine);
      this.#rings.importRing(id, 'coarse', se.coarse);
    }
    for (const is of x.sources) {
      const e = this.#sources.get(is.source);
      const cols = this.#sourceCols;
      if (e === undefined) this.#sources.set(is.source, { index: cols.allocate(is.lastSeen, is.intervalMs), metrics: new Set(is.metrics), series: [] });
      else {
        if (is.lastSeen > cols.lastSeen[e.index]!) cols.lastSeen[e.index] = is.lastSeen;
        cols.intervalMs[e.index] = Math.max(cols.intervalMs[e.index]!, is.intervalMs);
        for (const metric of is.metrics) e.metrics.add(metric);
      }
    }
    for (const ss of x.streamSeqs) {
      const e = this.#streamSeqs.get(ss.id);
      if (e === undefined) this.#streamSeqs.set(ss.id, { seq: ss.seq, expiresAt: ss.expiresAt });
      else {
        e.seq = Math.max(e.seq, ss.seq);
        e.expiresAt = Math.max(e.expiresAt, ss.expiresAt);
      }
    }
  }

  /** Tags of a series key, for display (kept canonical internally). */
  static tagsOf(canonical: string): Record<string, string> {
    return tagsFromCanonical(canonical);
  }
}

/** A StateStore over a single in-process partition (one worker, or tests). */
export class MemoryStateStore implements StateStore {
  readonly partition: MemoryPartition;
  readonly #now: () => number;

  constructor(retention: RetentionConfig, opts: { maxSeries: number; streamSeqTtlMs: number }, now: () => number = Date.now) {
    this.partition = new MemoryPartition(retention, opts);
    this.#now = now;
  }

  async apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    this.partition.apply(batch, receivedAt);
  }
  async sources(now: number): Promise<SourceAnswer[]> {
    return mergeSources([this.partition.sourcesPartial()], now);
  }
  async metrics(): Promise<MetricAnswer[]> {
    return mergeMetrics([this.partition.metricsPartial()]);
  }
  async series(q: SeriesQuery): Promise<SeriesAnswer> {
    return mergeSeries([this.partition.seriesPartial(q)], q);
  }
  async summary(q: SummaryQuery, windowText: string): Promise<SummaryAnswer> {
    return mergeSummary([this.partition.summaryPartial(q)], q, windowText);
  }
  async streamSeq(streamId: string): Promise<number> {
    return this.partition.streamSeq(streamId, this.#now());
  }
  async setStreamSeq(streamId: string, seq: number): Promise<void> {
    this.partition.setStreamSeq(streamId, seq, this.#now());
  }
  async drainUpdates(): Promise<BucketUpdate[]> {
    return this.partition.drainUpdates();
  }
  ready(): boolean {
    return true;
  }
  stats(): StoreStats {
    return this.partition.stats();
  }
  async close(): Promise<void> {}
}

function sealedError(): FleetPulseError {
  return new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'this partition was handed off (worker leaving); retry on the new owner');
}

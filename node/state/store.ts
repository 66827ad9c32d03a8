/**
 * The StateStore seam (STYLE.md §2): every query and every write goes through it. Two
 * implementations sit beside it — memory (a partition per worker, gathered over IPC) and Redis —
 * and both run the same contract suite (store.contract.ts).
 *
 * Answers are built from mergeable *partials* (see merge.ts) so that a worker can combine its own
 * partition with its peers' and give the same answer whichever worker is asked.
 */
import type { SampleBatch } from '../protocol/samples.js';

export const SummaryBy = { Last: 'last', Avg: 'avg', Max: 'max' } as const;
export type SummaryBy = (typeof SummaryBy)[keyof typeof SummaryBy];

export interface SeriesQuery {
  metric: string;
  source: string;
  /** Canonical tags; undefined = every tag set of that metric and source, merged. */
  tags?: string;
  ring: 'fine' | 'coarse';
  fromMs: number;
  toMs: number;
  /** Output step, a multiple of the ring's bucket width. */
  stepMs: number;
}

/** One output point: [bucketStartMs, count, sum, min, max, last]. */
export type SeriesPoint = [number, number, number, number, number, number];

export interface SeriesAnswer {
  metric: string;
  source: string;
  step: number;
  points: SeriesPoint[];
}

export interface SummaryQuery {
  metric: string;
  windowMs: number;
  by: SummaryBy;
  now: number;
  ring: 'fine' | 'coarse';
}

export interface RankedSource {
  source: string;
  value: number;
}

export interface SummaryAnswer {
  metric: string;
  window: string;
  by: SummaryBy;
  sources: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  top: RankedSource[];
  bottom: RankedSource[];
}

export interface SourceAnswer {
  source: string;
  lastSeen: number;
  status: 'live' | 'stale';
  metrics: string[];
}

export interface MetricAnswer {
  metric: string;
  unit: string;
  kind: 'gauge' | 'counter';
  sources: number;
}

// ---- partials: what one partition contributes; merge.ts combines them ----

export interface SourcePartial {
  source: string;
  /** Server receive time of the newest sample, ms. */
  lastSeen: number;
  /** Smoothed interval between the source's arrivals, ms (0 = unknown). */
  intervalMs: number;
  metrics: string[];
}

export interface MetricPartial {
  metric: string;
  unit: string;
  kind: 'gauge' | 'counter';
  /** When unit/kind were last set (so the newest wins on merge). */
  updatedAt: number;
  sources: number;
}

/** [bucketStartMs, count, sum, min, max, last, lastTs] at the query's step. */
export type BucketPartial = [number, number, number, number, number, number, number];

export interface SummaryPartial {
  source: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  lastTs: number;
  /** Counter rate per second over the window; null for gauges or too few points. */
  rate: number | null;
  counter: boolean;
}

/** Reads one partition can answer; the memory store's IPC fan-out and merge build on these. */
export interface PartitionReader {
  sourcesPartial(): SourcePartial[];
  metricsPartial(): MetricPartial[];
  seriesPartial(q: SeriesQuery): BucketPartial[];
  summaryPartial(q: SummaryQuery): SummaryPartial[];
}

/**
 * The current state of one fine bucket of one series, after samples were applied to it. The live
 * broadcaster pulls these (replace semantics: a later update of the same bucket supersedes an
 * earlier one, so clients merge by bucket start with no gap and no double count).
 */
export interface BucketUpdate {
  metric: string;
  source: string;
  /** Canonical tags ('' when none). */
  tags: string;
  /** Fine bucket start, ms. */
  start: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  /** Newest sample timestamp in the bucket (client clock), ms. */
  lastTs: number;
  /** Server time the newest sample of this bucket was received, ms (sample-to-screen latency). */
  receivedAt: number;
}

export interface StoreStats {
  series: number;
  /** Bytes held by bucket storage (memory) or 0 when not tracked (redis). */
  bytes: number;
}

/** The seam between ingest/query and the storage of aggregates. */
export interface StateStore {
  /**
   * Apply validated samples. Resolves once they are in the store (owner partition applied them,
   * or Redis wrote them): only then may ingest acknowledge. All-or-nothing per call where the
   * store can guarantee it; rejects with a FleetPulseError (SERIES_LIMIT, STATE_UNAVAILABLE…).
   */
  apply(batch: SampleBatch, receivedAt: number): Promise<void>;
  sources(now: number): Promise<SourceAnswer[]>;
  metrics(): Promise<MetricAnswer[]>;
  series(q: SeriesQuery): Promise<SeriesAnswer>;
  summary(q: SummaryQuery, windowText: string): Promise<SummaryAnswer>;
  /** Highest applied `seq` of a named stream, 0 if unknown (exactly-once stream resume). */
  streamSeq(streamId: string): Promise<number>;
  /** Record `seq` as applied for `streamId` (never lowers it). */
  setStreamSeq(streamId: string, seq: number): Promise<void>;
  /**
   * Buckets changed by samples this worker applied since the last call (memory: its partition,
   * including samples forwarded to it; redis: what this worker wrote). Pulled every live.flushMs.
   * `wanted` (optional) names the updates the caller will use (e.g. the live rooms somebody
   * watches); a store may leave the others out. The Redis store does — it builds and reads back
   * (the other writers' part of each bucket) only those. Memory mode returns all: its buckets are
   * whole and cheap to list.
   */
  drainUpdates(wanted?: (metric: string, source: string) => boolean): Promise<BucketUpdate[]>;
  /** True when the store can take writes now (readiness). */
  ready(): boolean;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * A store that changes only how writes travel (group commit, write affinity): reads, stream seqs,
 * live updates, readiness, stats and close go straight to the store it wraps.
 */
export abstract class WriteWrapper implements StateStore {
  protected readonly inner: StateStore;

  protected constructor(inner: StateStore) {
    this.inner = inner;
  }

  abstract apply(batch: SampleBatch, receivedAt: number): Promise<void>;

  sources(now: number): Promise<SourceAnswer[]> {
    return this.inner.sources(now);
  }
  metrics(): Promise<MetricAnswer[]> {
    return this.inner.metrics();
  }
  series(q: SeriesQuery): Promise<SeriesAnswer> {
    return this.inner.series(q);
  }
  summary(q: SummaryQuery, windowText: string): Promise<SummaryAnswer> {
    return this.inner.summary(q, windowText);
  }
  streamSeq(streamId: string): Promise<number> {
    return this.inner.streamSeq(streamId);
  }
  setStreamSeq(streamId: string, seq: number): Promise<void> {
    return this.inner.setStreamSeq(streamId, seq);
  }
  drainUpdates(wanted?: (metric: string, source: string) => boolean): Promise<BucketUpdate[]> {
    return this.inner.drainUpdates(wanted);
  }
  ready(): boolean {
    return this.inner.ready();
  }
  stats(): StoreStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

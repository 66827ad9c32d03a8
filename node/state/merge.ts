/**
 * Pure merging of partition partials into API answers. Partitions usually own disjoint sources,
 * but during a membership change a source can briefly live in two; every merge here is exact for
 * that case too (buckets combine field by field, `last` goes by timestamp).
 */
import { counterRate, quantileSorted } from '../aggregate/window.js';
import type {
  BucketPartial, MetricAnswer, MetricPartial, RankedSource, SeriesAnswer, SeriesPoint, SeriesQuery,
  SourceAnswer, SourcePartial, SummaryAnswer, SummaryBy, SummaryPartial, SummaryQuery,
} from './store.js';

/** A source is stale after 3 × its usual interval without a sample, and never before this. */
export const STALE_FLOOR_MS = 10_000;

export function mergeSources(parts: readonly SourcePartial[][], now: number): SourceAnswer[] {
  const by = new Map<string, SourcePartial>();
  for (const part of parts) {
    for (const p of part) {
      const cur = by.get(p.source);
      if (cur === undefined) by.set(p.source, { ...p, metrics: [...p.metrics] });
      else {
        if (p.lastSeen > cur.lastSeen) cur.lastSeen = p.lastSeen;
        cur.intervalMs = Math.max(cur.intervalMs, p.intervalMs);
        cur.metrics = [...new Set([...cur.metrics, ...p.metrics])];
      }
    }
  }
  return [...by.values()]
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0))
    .map((p) => ({
      source: p.source,
      lastSeen: p.lastSeen,
      status: now - p.lastSeen > Math.max(3 * p.intervalMs, STALE_FLOOR_MS) ? 'stale' : 'live',
      metrics: p.metrics.sort(),
    }));
}

export function mergeMetrics(parts: readonly MetricPartial[][]): MetricAnswer[] {
  const by = new Map<string, MetricPartial>();
  for (const part of parts) {
    for (const p of part) {
      const cur = by.get(p.metric);
      if (cur === undefined) by.set(p.metric, { ...p });
      else {
        cur.sources += p.sources;
        if (p.updatedAt > cur.updatedAt) {
          cur.unit = p.unit;
          cur.kind = p.kind;
          cur.updatedAt = p.updatedAt;
        }
      }
    }
  }
  return [...by.values()]
    .sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0))
    .map((p) => ({ metric: p.metric, unit: p.unit, kind: p.kind, sources: p.sources }));
}

/** Fold bucket `b` into `into` (same start). */
export function mergeBucket(into: BucketPartial, b: BucketPartial): void {
  into[1] += b[1];
  into[2] += b[2];
  if (b[3] < into[3]) into[3] = b[3];
  if (b[4] > into[4]) into[4] = b[4];
  if (b[6] >= into[6]) {
    into[5] = b[5];
    into[6] = b[6];
  }
}

export function mergeSeries(parts: readonly BucketPartial[][], q: SeriesQuery): SeriesAnswer {
  const by = new Map<number, BucketPartial>();
  for (const part of parts) {
    for (const b of part) {
      const cur = by.get(b[0]);
      if (cur === undefined) by.set(b[0], [...b]);
      else mergeBucket(cur, b);
    }
  }
  const points: SeriesPoint[] = [...by.values()].sort((a, b) => a[0] - b[0]).map((b) => [b[0], b[1], b[2], b[3], b[4], b[5]]);
  return { metric: q.metric, source: q.source, step: q.stepMs, points };
}

/** Merge two partials of the same source (a source split across partitions). */
function mergeSummaryEntry(into: SummaryPartial, p: SummaryPartial): void {
  if (p.count > into.count) into.rate = p.rate; // the partition that saw most of the window
  into.count += p.count;
  into.sum += p.sum;
  if (p.min < into.min) into.min = p.min;
  if (p.max > into.max) into.max = p.max;
  if (p.lastTs >= into.lastTs) {
    into.last = p.last;
    into.lastTs = p.lastTs;
  }
  into.counter ||= p.counter;
}

/** The value one source contributes to the fleet view (DESIGN.md §4 summary). */
export function sourceValue(p: SummaryPartial, by: SummaryBy): number | null {
  if (p.counter) return p.rate;
  if (by === 'avg') return p.sum / p.count;
  if (by === 'max') return p.max;
  return p.last;
}

const compareRanked = (a: RankedSource, b: RankedSource): number =>
  a.value - b.value || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);

export function mergeSummary(parts: readonly SummaryPartial[][], q: SummaryQuery, windowText: string): SummaryAnswer {
  const by = new Map<string, SummaryPartial>();
  for (const part of parts) {
    for (const p of part) {
      const cur = by.get(p.source);
      if (cur === undefined) by.set(p.source, { ...p });
      else mergeSummaryEntry(cur, p);
    }
  }
  const ranked: RankedSource[] = [];
  for (const p of by.values()) {
    const value = sourceValue(p, q.by);
    if (value !== null && Number.isFinite(value)) ranked.push({ source: p.source, value });
  }
  ranked.sort(compareRanked);
  const values = ranked.map((r) => r.value);
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  const top = ranked.slice(-10).reverse();
  // Top is "highest first"; among equal values keep the alphabetical order stable.
  top.sort((a, b) => b.value - a.value || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  return {
    metric: q.metric,
    window: windowText,
    by: q.by,
    sources: n,
    avg: n === 0 ? null : sum / n,
    min: n === 0 ? null : values[0]!,
    max: n === 0 ? null : values[n - 1]!,
    p50: n === 0 ? null : quantileSorted(values, 0.5),
    p90: n === 0 ? null : quantileSorted(values, 0.9),
    p99: n === 0 ? null : quantileSorted(values, 0.99),
    top,
    bottom: ranked.slice(0, 10),
  };
}

/** Helper for partitions: build a SummaryPartial from a series' buckets in time order. */
export class SummaryAccumulator {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  last = 0;
  lastTs = -Infinity;
  readonly #ts: number[] = [];
  readonly #values: number[] = [];

  add(count: number, sum: number, min: number, max: number, last: number, lastTs: number): void {
    this.count += count;
    this.sum += sum;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    if (lastTs >= this.lastTs) {
      this.last = last;
      this.lastTs = lastTs;
    }
    this.#ts.push(lastTs);
    this.#values.push(last);
  }

  partial(source: string, counter: boolean): SummaryPartial {
    return {
      source, count: this.count, sum: this.sum, min: this.min, max: this.max, last: this.last, lastTs: this.lastTs,
      rate: counter ? counterRate(this.#ts, this.#values) ?? null : null,
      counter,
    };
  }
}

// ---- partial builders shared by the stores (same answers in memory and Redis mode) ----

/** Arrivals of one source closer than this belong to one burst (a batch), not a new interval. */
export const MIN_INTERVAL_MS = 200;

/** Fold one stored bucket into a series partial at the query's output step. */
export function addAtStep(out: Map<number, BucketPartial>, step: number, start: number, count: number, sum: number, min: number, max: number, last: number, lastTs: number): void {
  const t = Math.floor(start / step) * step;
  const b: BucketPartial = [t, count, sum, min, max, last, lastTs];
  const cur = out.get(t);
  if (cur === undefined) out.set(t, b);
  else mergeBucket(cur, b);
}

/** Fold another tag set of the same source into `cur`: counters add their rates, gauges merge buckets. */
export function mergeTagSet(cur: SummaryPartial, p: SummaryPartial): void {
  cur.rate = cur.rate !== null && p.rate !== null ? cur.rate + p.rate : (cur.rate ?? p.rate);
  cur.count += p.count;
  cur.sum += p.sum;
  cur.min = Math.min(cur.min, p.min);
  cur.max = Math.max(cur.max, p.max);
  if (p.lastTs >= cur.lastTs) {
    cur.last = p.last;
    cur.lastTs = p.lastTs;
  }
  cur.counter ||= p.counter;
}

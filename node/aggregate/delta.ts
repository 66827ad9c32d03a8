/**
 * Pre-aggregation for group commit (pure, no clocks, no I/O): the samples a worker received
 * during one commit tick, folded into per-series bucket deltas for both rings. A store writes a
 * TickDelta in one round trip instead of one write per sample.
 *
 * Semantics match the memory ring buffers (state/rings.ts) field by field, so a store that merges
 * these deltas into its buckets gives the memory store's answers:
 * - count/sum/min/max add up; `last` is the value at the highest offset in the bucket, ties going
 *   to the later arrival (samples are folded in arrival order, and a delta merged into a stored
 *   bucket arrived after everything already in it);
 * - fine offsets are whole ms into the bucket; coarse offsets are in units of
 *   ceil(coarseStepMs / 65535) ms, exactly as the memory ring quantises them.
 * Float sums may differ from per-sample addition in the last ulp (addition is not associative).
 */
import type { RetentionConfig } from '../config/schema.js';
import { SampleKind, type SampleBatch } from '../protocol/samples.js';

/** One bucket's worth of samples: what gets merged into the stored bucket `b` (bucket index). */
export interface BucketDelta {
  b: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
  /** Offset of `last` in the bucket (ms for fine, coarse offset units for coarse). */
  off: number;
}

/**
 * A tick's deltas as records of one Float64Array, not objects: as objects (two bucket deltas and
 * a series delta per sample, their doubles boxed) they were most of the ~535 bytes the Redis
 * write path allocated per sample, all held across the Redis round trip — long enough to be
 * promoted, and a leading share of the worker's garbage collection (profiled). Records are REC
 * numbers each, of two kinds:
 * - a bucket delta: bucket, count, sum, min, max, last, offset of last, and the next record of the
 *   same series and ring (-1: none);
 * - a series delta (SeriesRef): receive time of the newest apply that touched it, counter (the
 *   kind of its newest sample: 1, else 0), and per ring the first bucket record (lists are in order
 *   of first arrival), the last one (samples mostly come in time order: looked at first) and how
 *   many (usually one each: a tick is short).
 */
export class BucketArena {
  data: Float64Array;
  used = 0;

  constructor(records: number) {
    this.data = new Float64Array(Math.max(16, records) * REC);
  }

  /** A new record, its REC numbers unset; returns its index (`data` may have been replaced). */
  #record(): number {
    if (this.used + REC > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const r = this.used;
    this.used = r + REC;
    return r;
  }

  /** A new bucket record of bucket b holding one sample. */
  add(b: number, off: number, v: number): number {
    const r = this.#record();
    const d = this.data;
    d[r] = b;
    d[r + COUNT] = 1;
    d[r + SUM] = v;
    d[r + MIN] = v;
    d[r + MAX] = v;
    d[r + LAST] = v;
    d[r + OFF] = off;
    d[r + NEXT] = -1;
    return r;
  }

  /** A new series record with one bucket in each ring. */
  series(receivedAt: number, counter: boolean, fine: number, coarse: number): SeriesRef {
    const r = this.#record();
    const d = this.data;
    d[r + S_RECEIVED] = receivedAt;
    d[r + S_COUNTER] = counter ? 1 : 0;
    d[r + S_FINE] = fine;
    d[r + S_FINE + S_LAST] = fine;
    d[r + S_FINE + S_COUNT] = 1;
    d[r + S_COARSE] = coarse;
    d[r + S_COARSE + S_LAST] = coarse;
    d[r + S_COARSE + S_COUNT] = 1;
    return r;
  }
}

/** Numbers per record, and each field's place in a bucket record (the bucket index is at 0). */
export const REC = 8;
export const COUNT = 1;
export const SUM = 2;
export const MIN = 3;
export const MAX = 4;
export const LAST = 5;
export const OFF = 6;
export const NEXT = 7;
/** A series record: receive time, counter, then per ring (at S_FINE / S_COARSE) first, +S_LAST last, +S_COUNT count. */
export const S_RECEIVED = 0;
export const S_COUNTER = 1;
export const S_FINE = 2;
export const S_COARSE = 5;
export const S_LAST = 1;
export const S_COUNT = 2;

/** A series' delta in a tick: the index of its series record in the tick's BucketArena. */
export type SeriesRef = number;

export type Ring = 'fine' | 'coarse';

/** Where a ring's list starts in a series record. */
export const ringAt = (ring: Ring): number => (ring === 'fine' ? S_FINE : S_COARSE);

/** The bucket records of a ring of series `sr` in ascending bucket order (a new array). */
export function orderedRecords(a: BucketArena, sr: SeriesRef, ring: Ring): number[] {
  const d = a.data;
  const out: number[] = [];
  for (let r = d[sr + ringAt(ring)]!; r !== -1; r = d[r + NEXT]!) out.push(r);
  return out.length <= 1 ? out : out.sort((x, y) => d[x]! - d[y]!);
}

/** A ring's buckets of series `sr` as objects, in order of first arrival (tests, debugging). */
export function bucketsOf(a: BucketArena, sr: SeriesRef, ring: Ring): BucketDelta[] {
  const d = a.data;
  const out: BucketDelta[] = [];
  for (let r = d[sr + ringAt(ring)]!; r !== -1; r = d[r + NEXT]!) {
    out.push({ b: d[r]!, count: d[r + COUNT]!, sum: d[r + SUM]!, min: d[r + MIN]!, max: d[r + MAX]!, last: d[r + LAST]!, off: d[r + OFF]! });
  }
  return out;
}

/** The metric of a series field (`<metric>NUL<tags>`). */
export const metricOf = (field: string): string => field.slice(0, field.indexOf('\u0000'));

export interface SourceDelta {
  source: string;
  /**
   * Receive times of the applies that touched the source, in apply order, consecutive duplicates
   * dropped: replaying them keeps lastSeen and the smoothed interval exactly as the memory store.
   */
  receivedAts: number[];
  /** Keyed by seriesField(metric, tags). */
  series: Map<string, SeriesRef>;
  /** The tick's records (every source of a tick shares one). */
  buckets: BucketArena;
  /**
   * The first and last add() of this delta (0-based) with samples of the source. Sources come in
   * order of first appearance, so a writer can cut a tick into parts that split no add() (no
   * request) by comparing these.
   */
  firstAdd: number;
  lastAdd: number;
}

/** A (unit, kind) the metric was seen with; consecutive repeats are dropped (they are no-ops). */
export interface MetaChange {
  unit: string;
  kind: SampleKind;
  at: number;
}

export interface TickDelta {
  sources: Map<string, SourceDelta>;
  /** Per metric, the (unit, kind) changes in arrival order. */
  meta: Map<string, MetaChange[]>;
  samples: number;
}

/** The key of a series inside its source: metric names never contain NUL. */
export function seriesField(metric: string, tags: string): string {
  return tags === '' ? metric + '\u0000' : metric + '\u0000' + tags;
}

export class DeltaBuilder {
  readonly #fineStep: number;
  readonly #coarseStep: number;
  readonly #coarseOffUnit: number;
  #arena: BucketArena;
  #delta: TickDelta;
  /** add() calls in this delta. */
  #adds = 0;
  /** Bucket lookups by record of lists grown past SCAN_MAX (a tick spread over many buckets), keyed by their first record. */
  #lookup: Lookup = new Map();
  /** Fields of untagged metrics (see FieldCache). */
  readonly #fields: FieldCache;

  /** `samples`: about how many this delta will hold (sizes its records; it grows past that). */
  constructor(r: RetentionConfig, samples = 0, fields: FieldCache = new Map()) {
    this.#fields = fields;
    this.#fineStep = r.fineStepMs;
    this.#coarseStep = r.coarseStepMs;
    this.#coarseOffUnit = Math.ceil(r.coarseStepMs / 65535);
    // A series new to the tick takes three records (itself, a fine and a coarse bucket): the usual case.
    this.#arena = new BucketArena(3 * samples);
    this.#delta = { sources: new Map(), meta: new Map(), samples: 0 };
  }

  get samples(): number {
    return this.#delta.samples;
  }

  /** Fold one applied batch in (arrival order matters for `last` ties and the source interval). */
  add(batch: SampleBatch, receivedAt: number): void {
    const d = this.#delta;
    const arena = this.#arena;
    let src: SourceDelta | undefined;
    for (let i = 0; i < batch.length; i++) {
      const source = batch.source[i]!;
      const metric = batch.metric[i]!;
      const tags = batch.tags[i]!;
      if (src === undefined || src.source !== source) {
        src = d.sources.get(source);
        if (src === undefined) {
          src = { source, receivedAts: [receivedAt], series: new Map(), buckets: arena, firstAdd: this.#adds, lastAdd: this.#adds };
          d.sources.set(source, src);
        } else if (src.receivedAts[src.receivedAts.length - 1] !== receivedAt) src.receivedAts.push(receivedAt);
        src.lastAdd = this.#adds;
      }
      const field = tags === '' ? this.#untagged(metric) : seriesField(metric, tags);
      const kind = batch.kind[i]!;
      this.#noteMeta(metric, batch.unit[i]!, kind, receivedAt);
      const ts = batch.ts[i]!;
      const v = batch.value[i]!;
      const fb = Math.floor(ts / this.#fineStep);
      const fineOff = ts - fb * this.#fineStep;
      const cb = Math.floor(ts / this.#coarseStep);
      const coarseOff = Math.floor((ts - cb * this.#coarseStep) / this.#coarseOffUnit);
      const sr = src.series.get(field);
      if (sr === undefined) {
        // The usual case, a series' first sample of the tick.
        const f = arena.add(fb, fineOff, v);
        const c = arena.add(cb, coarseOff, v);
        src.series.set(field, arena.series(receivedAt, kind === SampleKind.Counter, f, c));
        continue;
      }
      const sd = arena.data;
      sd[sr + S_COUNTER] = kind === SampleKind.Counter ? 1 : 0;
      if (receivedAt > sd[sr + S_RECEIVED]!) sd[sr + S_RECEIVED] = receivedAt;
      this.#fold(sr + S_FINE, fb, fineOff, v);
      this.#fold(sr + S_COARSE, cb, coarseOff, v);
    }
    d.samples += batch.length;
    this.#adds++;
  }

  #noteMeta(metric: string, unit: string, kind: SampleKind, at: number): void {
    let list = this.#delta.meta.get(metric);
    if (list === undefined) {
      list = [];
      this.#delta.meta.set(metric, list);
    }
    const prev = list[list.length - 1];
    if (prev === undefined || prev.unit !== unit || prev.kind !== kind) list.push({ unit, kind, at });
  }

  #untagged(metric: string): string {
    let f = this.#fields.get(metric);
    if (f === undefined) {
      if (this.#fields.size >= MAX_CACHED_FIELDS) this.#fields.clear();
      this.#fields.set(metric, (f = seriesField(metric, '')));
    }
    return f;
  }

  /** Fold a sample into bucket b of the ring whose list is at `list` (series record + S_FINE / S_COARSE). */
  #fold(list: number, b: number, off: number, v: number): void {
    const a = this.#arena;
    const first = a.data[list]!;
    const last = a.data[list + S_LAST]!;
    const n = a.data[list + S_COUNT]!;
    let r = a.data[last] === b ? last : this.#find(first, n, b);
    if (r === -1) {
      r = a.add(b, off, v); // may replace a.data
      a.data[last + NEXT] = r;
      a.data[list + S_LAST] = r;
      a.data[list + S_COUNT] = n + 1;
      this.#lookup.get(first)?.set(b, r);
      return;
    }
    const d = a.data;
    d[r + COUNT] = d[r + COUNT]! + 1;
    d[r + SUM] = d[r + SUM]! + v;
    if (v < d[r + MIN]!) d[r + MIN] = v;
    if (v > d[r + MAX]!) d[r + MAX] = v;
    if (off >= d[r + OFF]!) {
      d[r + LAST] = v;
      d[r + OFF] = off;
    }
  }

  /** The record of bucket b in the list starting at `first` (n records), or -1. */
  #find(first: number, n: number, b: number): number {
    const d = this.#arena.data;
    if (n <= SCAN_MAX) {
      for (let r = first; r !== -1; r = d[r + NEXT]!) if (d[r] === b) return r;
      return -1;
    }
    let m = this.#lookup.get(first);
    if (m === undefined) {
      m = new Map();
      for (let r = first; r !== -1; r = d[r + NEXT]!) m.set(d[r]!, r);
      this.#lookup.set(first, m);
    }
    return m.get(b) ?? -1;
  }

  /** The delta so far; the builder starts over empty. */
  take(): TickDelta {
    const d = this.#delta;
    this.#delta = { sources: new Map(), meta: new Map(), samples: 0 };
    this.#arena = new BucketArena(0);
    this.#lookup = new Map();
    this.#adds = 0;
    return d;
  }
}

/**
 * The field of an untagged metric by its name, kept by the caller across ticks: one string object
 * per field, so the store's lookups by field compare pointers instead of hashing and comparing a
 * new string per series per tick.
 */
export type FieldCache = Map<string, string>;
const MAX_CACHED_FIELDS = 100_000;

/** Bucket lists longer than this are searched through a map (built on first need), not scanned. */
const SCAN_MAX = 8;
/** First record of a list → bucket → record. */
type Lookup = Map<number, Map<number, number>>;

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

export interface SeriesDelta {
  metric: string;
  /** Canonical tags ('' when none). */
  tags: string;
  /** Kind of the newest sample (the memory store keeps the last one too). */
  counter: boolean;
  /** Receive time of the newest apply that touched the series. */
  receivedAt: number;
  /**
   * The buckets touched, in order of first arrival (usually one each: a tick is short). Arrays,
   * not maps: two maps per series per tick were a leading share of the write path's garbage.
   */
  fine: BucketDelta[];
  coarse: BucketDelta[];
}

export interface SourceDelta {
  source: string;
  /**
   * Receive times of the applies that touched the source, in apply order, consecutive duplicates
   * dropped: replaying them keeps lastSeen and the smoothed interval exactly as the memory store.
   */
  receivedAts: number[];
  /** Keyed by seriesField(metric, tags). */
  series: Map<string, SeriesDelta>;
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
  #delta: TickDelta = { sources: new Map(), meta: new Map(), samples: 0 };
  /** add() calls in this delta. */
  #adds = 0;
  /** Lookup maps of bucket lists grown past SCAN_MAX (a tick spread over many buckets). */
  #lookup: Lookup = new Map();
  /** The field of an untagged metric, built once per builder rather than per sample. */
  readonly #fields = new Map<string, string>();

  constructor(r: RetentionConfig) {
    this.#fineStep = r.fineStepMs;
    this.#coarseStep = r.coarseStepMs;
    this.#coarseOffUnit = Math.ceil(r.coarseStepMs / 65535);
  }

  get samples(): number {
    return this.#delta.samples;
  }

  /** Fold one applied batch in (arrival order matters for `last` ties and the source interval). */
  add(batch: SampleBatch, receivedAt: number): void {
    const d = this.#delta;
    let src: SourceDelta | undefined;
    for (let i = 0; i < batch.length; i++) {
      const source = batch.source[i]!;
      const metric = batch.metric[i]!;
      const tags = batch.tags[i]!;
      if (src === undefined || src.source !== source) {
        src = d.sources.get(source);
        if (src === undefined) {
          src = { source, receivedAts: [receivedAt], series: new Map(), firstAdd: this.#adds, lastAdd: this.#adds };
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
      let s = src.series.get(field);
      if (s === undefined) {
        // The usual case, a series' first sample of the tick: one-element array literals, not
        // empty arrays grown by push (which reserves 17 slots each: most of this path's garbage).
        s = { metric, tags, counter: kind === SampleKind.Counter, receivedAt, fine: [bucketOf(fb, fineOff, v)], coarse: [bucketOf(cb, coarseOff, v)] };
        src.series.set(field, s);
        continue;
      }
      s.counter = kind === SampleKind.Counter;
      if (receivedAt > s.receivedAt) s.receivedAt = receivedAt;
      fold(s.fine, fb, fineOff, v, this.#lookup);
      fold(s.coarse, cb, coarseOff, v, this.#lookup);
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
    if (f === undefined) this.#fields.set(metric, (f = seriesField(metric, '')));
    return f;
  }

  /** The delta so far; the builder starts over empty. */
  take(): TickDelta {
    const d = this.#delta;
    this.#delta = { sources: new Map(), meta: new Map(), samples: 0 };
    this.#lookup = new Map();
    this.#adds = 0;
    return d;
  }
}

/** Bucket lists longer than this are searched through a map (built on first need), not scanned. */
const SCAN_MAX = 8;
type Lookup = Map<BucketDelta[], Map<number, BucketDelta>>;

/** Bucket b of a list: the last one first (samples mostly come in time order). */
function find(list: BucketDelta[], b: number, lookup: Lookup): BucketDelta | undefined {
  const n = list.length;
  if (n === 0) return undefined;
  if (list[n - 1]!.b === b) return list[n - 1];
  if (n <= SCAN_MAX) {
    for (let i = n - 2; i >= 0; i--) if (list[i]!.b === b) return list[i];
    return undefined;
  }
  let m = lookup.get(list);
  if (m === undefined) {
    m = new Map();
    for (const x of list) m.set(x.b, x);
    lookup.set(list, m);
  }
  return m.get(b);
}

/** Bucket b holding one sample. */
function bucketOf(b: number, off: number, v: number): BucketDelta {
  return { b, count: 1, sum: v, min: v, max: v, last: v, off };
}

function fold(list: BucketDelta[], b: number, off: number, v: number, lookup: Lookup): void {
  const cur = find(list, b, lookup);
  if (cur === undefined) {
    const x = bucketOf(b, off, v);
    list.push(x);
    if (list.length > SCAN_MAX + 1) lookup.get(list)?.set(b, x);
    return;
  }
  cur.count++;
  cur.sum += v;
  if (v < cur.min) cur.min = v;
  if (v > cur.max) cur.max = v;
  if (off >= cur.off) {
    cur.last = v;
    cur.off = off;
  }
}

/**
 * Wire and in-process shapes of ingested samples (DESIGN.md §3).
 *
 * After validation, samples travel as a columnar {@link SampleBatch}: one array per field rather
 * than one object per sample, so a batch of 1,000 samples is a handful of arrays to build, split
 * by owner, clone over IPC and apply to the ring buffers.
 */

export const SampleKind = { Gauge: 0, Counter: 1 } as const;
export type SampleKind = (typeof SampleKind)[keyof typeof SampleKind];
export const sampleKindName = ['gauge', 'counter'] as const;
export type SampleKindName = (typeof sampleKindName)[number];

/** One sample as a client may send it (aliases of the original project included). */
export interface WireSample {
  source?: string;
  server_id?: string | number;
  server_name?: string;
  host?: string;
  metric?: string;
  metric_type?: string;
  value?: number;
  ts?: number;
  sent_at?: number;
  unit?: string;
  kind?: SampleKindName;
  tags?: Record<string, string>;
}

/** The "wide" form: several metrics of one source at once. */
export interface WireWideSample {
  source: string;
  ts?: number;
  tags?: Record<string, string>;
  metrics: Record<string, number>;
}

/** Validated samples, column by column. All arrays have `length` entries. */
export interface SampleBatch {
  length: number;
  metric: string[];
  source: string[];
  value: number[];
  /** ms since epoch (integer). */
  ts: number[];
  /** '' when absent. */
  unit: string[];
  kind: SampleKind[];
  /** Canonical tags: `k=v` pairs sorted by key, joined by '\u001f'; '' when none. */
  tags: string[];
  /** Each sample's owner, when the ingest fast path looked it up as it read the batch. */
  owners?: OwnerHints | undefined;
  /** Each sample's source as a process name id, when the ingest fast path read the batch. */
  sourceIds?: NameIds | undefined;
}

/**
 * Process name ids (protocol/interner.ts) of a batch's sources (sample i's at ids[i]), valid only
 * while `generation` is the interner's: consumers index arrays by them instead of hashing strings.
 */
export interface NameIds {
  generation: number;
  ids: Int32Array;
}

/**
 * Owner slots of a batch's samples (sample i's at slots[i]), valid only under the membership
 * they were computed with: `under` is that membership's Ownership object (state/ownership.ts),
 * and splitByOwner uses the hints only while it is still the current one.
 */
export interface OwnerHints {
  under: object;
  slots: Int32Array;
}

/**
 * Some samples of a batch without copying its columns: those at `index` (positions in increasing
 * order), or every one when `index` is undefined. What a split by owner hands on: forwarding
 * encodes straight from the view, and the owner's own part is applied through it.
 */
export interface BatchView {
  batch: SampleBatch;
  index?: Int32Array | undefined;
}

/** Samples in a view. */
export function viewLength(v: BatchView): number {
  return v.index === undefined ? v.batch.length : v.index.length;
}

/** A view's samples as a batch of their own (the batch itself when the view holds all of it). */
export function materialize(v: BatchView): SampleBatch {
  const { batch: b, index } = v;
  if (index === undefined) return b;
  const out = sizedBatch(index.length);
  for (let k = 0; k < index.length; k++) {
    const i = index[k]!;
    setSample(out, k, b.metric[i]!, b.source[i]!, b.value[i]!, b.ts[i]!, b.unit[i]!, b.kind[i]!, b.tags[i]!);
  }
  return out;
}

export function emptyBatch(): SampleBatch {
  return { length: 0, metric: [], source: [], value: [], ts: [], unit: [], kind: [], tags: [], owners: undefined, sourceIds: undefined };
}

/** A batch of `n` samples whose columns are allocated at that size, to be filled by setSample. */
export function sizedBatch(n: number): SampleBatch {
  return {
    length: n, metric: new Array<string>(n), source: new Array<string>(n), value: new Array<number>(n),
    ts: new Array<number>(n), unit: new Array<string>(n), kind: new Array<SampleKind>(n), tags: new Array<string>(n), owners: undefined, sourceIds: undefined,
  };
}

/** Write sample `k` of every column (b.length is the caller's). */
export function setSample(b: SampleBatch, k: number, metric: string, source: string, value: number, ts: number, unit: string, kind: SampleKind, tags: string): void {
  b.metric[k] = metric;
  b.source[k] = source;
  b.value[k] = value;
  b.ts[k] = ts;
  b.unit[k] = unit;
  b.kind[k] = kind;
  b.tags[k] = tags;
}

/**
 * Add a sample at index b.length. Written by index, not pushed, so it also fills scratch columns
 * that are longer than b.length (the fast-path scanner's, kept between payloads).
 */
export function pushSample(b: SampleBatch, metric: string, source: string, value: number, ts: number, unit: string, kind: SampleKind, tags: string): void {
  setSample(b, b.length, metric, source, value, ts, unit, kind, tags);
  b.length++;
}

/** Copy sample i of `from` onto the end of `to`. */
export function copySample(to: SampleBatch, from: SampleBatch, i: number): void {
  pushSample(to, from.metric[i]!, from.source[i]!, from.value[i]!, from.ts[i]!, from.unit[i]!, from.kind[i]!, from.tags[i]!);
}

/**
 * The samples of several batches as one (a single batch is returned as is). Source ids come along
 * when every batch has them, of one generation (a stream's messages coalesced into one apply keep
 * the partition's array lookups); owner hints do not (each batch's were made under its own membership).
 */
export function concatBatches(batches: readonly SampleBatch[]): SampleBatch {
  if (batches.length === 1) return batches[0]!;
  const out = emptyBatch();
  for (const b of batches) for (let i = 0; i < b.length; i++) copySample(out, b, i);
  const generation = batches[0]!.sourceIds?.generation;
  if (generation !== undefined && batches.every((b) => b.sourceIds?.generation === generation)) {
    const ids = new Int32Array(out.length);
    let at = 0;
    for (const b of batches) {
      ids.set(b.sourceIds!.ids.subarray(0, b.length), at);
      at += b.length;
    }
    out.sourceIds = { generation, ids };
  }
  return out;
}

/** The first `n` samples of `b` as a batch of its own (copied columns). */
export function sliceBatch(b: SampleBatch, n: number): SampleBatch {
  return {
    length: n, metric: b.metric.slice(0, n), source: b.source.slice(0, n), value: b.value.slice(0, n), ts: b.ts.slice(0, n),
    unit: b.unit.slice(0, n), kind: b.kind.slice(0, n), tags: b.tags.slice(0, n), owners: undefined, sourceIds: undefined,
  };
}

export const TAG_SEPARATOR = '\u001f';

/** Canonical tag string → object (for display; the canonical string is what identifies a series). */
export function tagsFromCanonical(canonical: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (canonical === '') return out;
  for (const pair of canonical.split(TAG_SEPARATOR)) {
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

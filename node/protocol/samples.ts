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
}

export function emptyBatch(): SampleBatch {
  return { length: 0, metric: [], source: [], value: [], ts: [], unit: [], kind: [], tags: [] };
}

export function pushSample(b: SampleBatch, metric: string, source: string, value: number, ts: number, unit: string, kind: SampleKind, tags: string): void {
  b.metric.push(metric);
  b.source.push(source);
  b.value.push(value);
  b.ts.push(ts);
  b.unit.push(unit);
  b.kind.push(kind);
  b.tags.push(tags);
  b.length++;
}

/** Copy sample i of `from` onto the end of `to`. */
export function copySample(to: SampleBatch, from: SampleBatch, i: number): void {
  pushSample(to, from.metric[i]!, from.source[i]!, from.value[i]!, from.ts[i]!, from.unit[i]!, from.kind[i]!, from.tags[i]!);
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

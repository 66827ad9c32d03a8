/**
 * Which sources ran into the series limit (state.maxSeries), so an operator can see who to talk to
 * without grepping logs: the worker keeps the most recent few sources whose samples were refused
 * with 429 `series_limit` and shows them in /admin/cluster and the dashboard's Cluster view.
 *
 * Bounded on every axis: at most MAX_SOURCES entries, at most PER_BATCH new ones from one refused
 * batch (a batch of 10,000 sources must not flush the list), names are validated source ids
 * (≤ 128 chars) already. The counter fleetpulse_ingest_series_limit_rejections_total counts every refusal.
 */
import type { SampleBatch } from '../protocol/samples.js';

export interface SeriesLimitHit {
  source: string;
  /** Last refusal, ms since epoch. */
  at: number;
  /** Refused batches that carried this source since it entered the list. */
  count: number;
}

export interface SeriesLimitView {
  /** Refused batches on this worker since it started. */
  rejections: number;
  /** Most recent first. */
  sources: SeriesLimitHit[];
}

const MAX_SOURCES = 20;
const PER_BATCH = 5;

/** The first few distinct sources of a batch: all that record() takes from it (kept instead of the batch by a request that waits). */
export function firstSources(batch: Pick<SampleBatch, 'length' | 'source'>, max = PER_BATCH): Pick<SampleBatch, 'length' | 'source'> {
  const out: string[] = [];
  let last: string | undefined;
  for (let i = 0; i < batch.length && out.length < max; i++) {
    const source = batch.source[i]!;
    if (source === last) continue; // runs of one source: one compare each
    last = source;
    if (!out.includes(source)) out.push(source);
  }
  return { length: out.length, source: out };
}

export class SeriesLimitLog {
  /** Insertion order = recency (re-inserted on every hit). */
  readonly #hits = new Map<string, SeriesLimitHit>();
  #rejections = 0;

  /** One batch was refused for the series limit. */
  record(batch: Pick<SampleBatch, 'length' | 'source'>, now: number): void {
    this.#rejections++;
    const seen = new Set<string>();
    for (let i = 0; i < batch.length && seen.size < PER_BATCH; i++) {
      const source = batch.source[i]!;
      if (seen.has(source)) continue;
      seen.add(source);
      const prev = this.#hits.get(source);
      this.#hits.delete(source);
      this.#hits.set(source, { source, at: now, count: (prev?.count ?? 0) + 1 });
    }
    while (this.#hits.size > MAX_SOURCES) this.#hits.delete(this.#hits.keys().next().value as string);
  }

  view(): SeriesLimitView {
    return { rejections: this.#rejections, sources: [...this.#hits.values()].reverse() };
  }
}

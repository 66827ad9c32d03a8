/**
 * Live series for a chart: one SeriesSource per (metric, source), history over REST, then live
 * updates, with no gap and no duplicate (merge rules in lib/series-store.ts). Order matters:
 * join the room first, then read REST, so the two overlap. A hole seen in live data (a skipped
 * frame) and a reconnect both refill the missed span over REST.
 */
import { api } from '../api.js';
import { rangeMs, type Range } from '../lib/route.js';
import { CoarseSeries, SeriesBuffer, type SeriesSource } from '../lib/series-store.js';
import type { MetricsStreamController } from './metrics-stream-controller.js';

export const FINE_STEP_MS = 1000;
export const COARSE_STEP_MS = 60_000;
/** Ranges up to this are drawn from the fine (1 s) buckets; longer ones at 1 min. */
const FINE_RANGE_MAX_MS = 5 * 60_000;
const REFILL_MIN_INTERVAL_MS = 3000;
/** A failed history read is tried again after this, doubling up to BACKFILL_RETRY_MAX_MS, until it succeeds or the view changes. */
const BACKFILL_RETRY_MS = 1000;
const BACKFILL_RETRY_MAX_MS = 10_000;

export interface SeriesKey {
  metric: string;
  source: string;
}

interface Entry {
  key: SeriesKey;
  data: SeriesBuffer | CoarseSeries;
  leave: (() => void) | undefined;
  lastRefill: number;
  /** The newest bucket start the series had when the connection dropped (the next resync refills from it). */
  resyncFrom: number | undefined;
}

export class SeriesController extends EventTarget {
  readonly #stream: MetricsStreamController;
  #entries: Entry[] = [];
  #range: Range = '5m';
  #generation = 0;
  #frame = 0;
  #abort = new AbortController();
  error = '';

  constructor(stream: MetricsStreamController) {
    super();
    this.#stream = stream;
  }

  get stepMs(): number {
    return this.#fine ? FINE_STEP_MS : COARSE_STEP_MS;
  }

  get #fine(): boolean {
    return rangeMs(this.#range) <= FINE_RANGE_MAX_MS;
  }

  get rangeMs(): number {
    return rangeMs(this.#range);
  }

  get series(): SeriesSource[] {
    return this.#entries.map((e) => e.data);
  }

  get keys(): SeriesKey[] {
    return this.#entries.map((e) => e.key);
  }

  /** Show these series over this range (replaces what was shown). */
  async set(keys: readonly SeriesKey[], range: Range): Promise<void> {
    this.clear();
    const gen = ++this.#generation;
    this.#range = range;
    this.#abort = new AbortController();
    this.#entries = keys.map((key) => ({
      key,
      data: this.#fine ? new SeriesBuffer(FINE_STEP_MS) : new CoarseSeries(COARSE_STEP_MS, FINE_STEP_MS),
      leave: undefined,
      lastRefill: 0,
      resyncFrom: undefined,
    }));
    await Promise.all(
      this.#entries.map(async (e) => {
        const leave = await this.#stream.subscribe({ metric: e.key.metric, source: e.key.source }, (u) => {
          if (u.k !== 'series') return;
          this.#applyLive(e, u.tags, u.start, u.count, u.sum, u.min, u.max, u.last);
        });
        if (gen !== this.#generation) return leave();
        e.leave = leave;
        await this.#backfill(e, Date.now() - this.rangeMs);
      }),
    );
    this.#changed();
  }

  #applyLive(e: Entry, tags: string[], start: number[], count: number[], sum: number[], min: number[], max: number[], last: number[]): void {
    for (let i = 0; i < start.length; i++) {
      const p: [number, number, number, number, number, number] = [start[i]!, count[i]!, sum[i]!, min[i]!, max[i]!, last[i]!];
      if (e.data instanceof SeriesBuffer) {
        const hole = e.data.applyLive(tags[i]!, p);
        if (hole !== undefined) this.#refill(e, hole.holeFrom);
      } else e.data.applyLive(tags[i]!, p);
    }
    this.#changed();
  }

  /**
   * History over REST from `fromMs` to now (both resolutions for long ranges). A failed read is
   * retried (backing off) while the view shows the same series: live updates only carry the
   * newest bucket, so a span the read missed — the first history, a refill after a skipped frame
   * or a reconnect — would otherwise stay missing, or stale, until the range changed.
   */
  async #backfill(e: Entry, fromMs: number, retryMs = BACKFILL_RETRY_MS): Promise<void> {
    const now = Date.now();
    const { metric, source } = e.key;
    const signal = this.#abort.signal;
    try {
      if (e.data instanceof SeriesBuffer) {
        const a = await api.series(metric, source, fromMs, now + FINE_STEP_MS, signal);
        e.data.applyRest(a.points);
      } else {
        const fineFrom = Math.floor((now - COARSE_STEP_MS) / COARSE_STEP_MS) * COARSE_STEP_MS;
        const [coarse, fine] = await Promise.all([
          api.series(metric, source, fromMs, now, signal),
          api.series(metric, source, fineFrom, now + FINE_STEP_MS, signal),
        ]);
        e.data.applyRest(coarse.points, fine.points, fineFrom);
      }
      this.error = '';
    } catch (err) {
      if (signal.aborted) return;
      this.error = err instanceof Error ? err.message : String(err);
      const retry = setTimeout(() => {
        if (!signal.aborted) void this.#backfill(e, fromMs, Math.min(2 * retryMs, BACKFILL_RETRY_MAX_MS));
      }, retryMs);
      signal.addEventListener('abort', () => clearTimeout(retry), { once: true });
    }
    this.#changed();
  }

  #refill(e: Entry, fromMs: number): void {
    const now = Date.now();
    if (now - e.lastRefill < REFILL_MIN_INTERVAL_MS) return;
    e.lastRefill = now;
    void this.#backfill(e, fromMs - FINE_STEP_MS);
  }

  /** The connection dropped: remember where each series' data ended (live updates may arrive before the resync). */
  markDisconnected(): void {
    for (const e of this.#entries) e.resyncFrom ??= e.data.newestStart() ?? Date.now() - this.rangeMs;
  }

  /**
   * After a reconnect: refill from a little before the newest bucket each series had when the
   * connection dropped. Not the newest it has now: rooms are joined again before this runs, so a
   * live update past the outage may already be in, and refilling from it would leave the outage a gap.
   */
  resync(): void {
    for (const e of this.#entries) {
      const newest = e.resyncFrom ?? e.data.newestStart();
      e.resyncFrom = undefined;
      e.lastRefill = Date.now();
      void this.#backfill(e, newest === undefined ? Date.now() - this.rangeMs : newest - e.data.stepMs);
    }
  }

  /** Forget what scrolled out of the window. */
  trim(now: number): void {
    const min = now - this.rangeMs - 2 * this.stepMs;
    for (const e of this.#entries) e.data.trim(min);
  }

  /** Coalesce change notifications to one per animation frame. */
  #changed(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.dispatchEvent(new Event('change'));
    });
  }

  clear(): void {
    this.#generation++;
    this.#abort.abort();
    for (const e of this.#entries) e.leave?.();
    this.#entries = [];
  }
}

/**
 * The per-series and per-source fields that ingest writes for every sample, in typed columns by
 * index rather than as fields of the series' and source's objects.
 *
 * Why: V8 keeps a double-valued object field in a box of its own, so `meta.receivedAt = t` and a
 * source's `lastSeen`/`intervalMs` reached the object and then its boxes — with a fleet's series
 * spread over the heap, several cache misses a sample. Skipping these writes altogether (an
 * experiment, not shippable) made one worker under bench/peer's load take ~25% more samples/s;
 * the columns keep them, in a few dense arrays that stay in cache.
 */
import { grown } from '../protocol/grown.js';

/** Bits of SeriesColumns.flags. */
export const SeriesFlag = {
  /** Queued for the next drainUpdates(). */
  Dirty: 1,
  /** The newest sample was a counter. */
  Counter: 2,
} as const;

/** By series id (ids are the ring store's, reused after a series leaves). */
export class SeriesColumns {
  flags = new Uint8Array(1024);
  /** Server receive time of the series' newest sample (for sample-to-screen latency). */
  receivedAt = new Float64Array(1024);
  /** The series' source, as a SourceColumns index. */
  source = new Int32Array(1024);

  /** A new series at `id`: its fields set, the columns grown when needed. */
  init(id: number, source: number, counter: boolean, receivedAt: number): void {
    this.flags = grown(this.flags, id, (n) => new Uint8Array(n));
    this.receivedAt = grown(this.receivedAt, id, (n) => new Float64Array(n));
    this.source = grown(this.source, id, (n) => new Int32Array(n));
    this.flags[id] = counter ? SeriesFlag.Counter : 0;
    this.receivedAt[id] = receivedAt;
    this.source[id] = source;
  }

  isCounter(id: number): boolean {
    return (this.flags[id]! & SeriesFlag.Counter) !== 0;
  }
}

/** By source index: allocated for a new source, released when it leaves (handoff). */
export class SourceColumns {
  lastSeen = new Float64Array(1024);
  /** Smoothed interval between arrivals, ms (0 until the second). */
  intervalMs = new Float64Array(1024);
  #next = 0;
  readonly #free: number[] = [];

  allocate(lastSeen: number, intervalMs: number): number {
    const i = this.#free.pop() ?? this.#next++;
    this.lastSeen = grown(this.lastSeen, i, (n) => new Float64Array(n));
    this.intervalMs = grown(this.intervalMs, i, (n) => new Float64Array(n));
    this.lastSeen[i] = lastSeen;
    this.intervalMs[i] = intervalMs;
    return i;
  }

  release(i: number): void {
    this.#free.push(i);
  }

  /** Count an arrival of source `i` at `now`: smoothed interval between arrivals, newest receive time. */
  touch(i: number, now: number, minIntervalMs: number): void {
    const last = this.lastSeen[i]!;
    const gap = now - last;
    if (gap >= minIntervalMs) {
      const prev = this.intervalMs[i]!;
      this.intervalMs[i] = prev === 0 ? gap : 0.8 * prev + 0.2 * gap;
    }
    if (now > last) this.lastSeen[i] = now;
  }
}

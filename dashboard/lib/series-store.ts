/**
 * Client-side series data: history from REST merged with live bucket updates, with no gap and no
 * duplicate. Pure (no DOM, no clock): the caller passes times in.
 *
 * The merge is by bucket start. A live entry carries the full state of one bucket of one tag set
 * (replace semantics, see node/protocol/events.ts); counts only grow within a bucket, so for each
 * (bucket, tags) the entry with the larger count wins, whatever order REST answers and live
 * updates arrive in. A REST point covers every tag set of the bucket; the bucket shows whichever
 * of (REST point, merged live entries) has seen more samples. Subscribing before the REST read
 * makes the two overlap instead of leaving a hole between them.
 */

/** [bucketStartMs, count, sum, min, max, last], as `GET /api/v1/series` answers. */
export type Point = [number, number, number, number, number, number];

export const Field = { Avg: 'avg', Last: 'last', Min: 'min', Max: 'max', Count: 'count' } as const;
export type Field = (typeof Field)[keyof typeof Field];

export function fieldOf(p: Point, f: Field): number {
  switch (f) {
    case Field.Avg:
      return p[1] === 0 ? p[5] : p[2] / p[1];
    case Field.Last:
      return p[5];
    case Field.Min:
      return p[3];
    case Field.Max:
      return p[4];
    case Field.Count:
      return p[1];
  }
}

/** What a chart reads: a bucket's point by start, and the newest start. */
export interface SeriesSource {
  readonly stepMs: number;
  get(start: number): Point | undefined;
  newestStart(): number | undefined;
}

interface Bucket {
  rest: Point | undefined;
  live: Map<string, Point> | undefined;
}

export function mergePoints(a: Point, b: Point): Point {
  return [a[0], a[1] + b[1], a[2] + b[2], Math.min(a[3], b[3]), Math.max(a[4], b[4]), b[5]];
}

export class SeriesBuffer implements SeriesSource {
  readonly stepMs: number;
  readonly #buckets = new Map<number, Bucket>();
  #newest: number | undefined;

  constructor(stepMs: number) {
    this.stepMs = stepMs;
  }

  #bucket(start: number): Bucket {
    let b = this.#buckets.get(start);
    if (b === undefined) {
      b = { rest: undefined, live: undefined };
      this.#buckets.set(start, b);
      if (this.#newest === undefined || start > this.#newest) this.#newest = start;
    }
    return b;
  }

  /** History over REST (all tag sets merged by the server). */
  applyRest(points: readonly Point[]): void {
    for (const p of points) {
      const b = this.#bucket(p[0]);
      if (b.rest === undefined || p[1] >= b.rest[1]) b.rest = [...p];
    }
  }

  /**
   * One live entry. Returns the hole it reveals, if any: the buckets between the newest known one
   * and this one, when the series usually has a point every step (a skipped frame, or a sample
   * that arrived while the client was away) — the caller refills it over REST.
   */
  applyLive(tags: string, p: Point): { holeFrom: number; holeTo: number } | undefined {
    const prevNewest = this.#newest;
    const b = this.#bucket(p[0]);
    const cur = b.live?.get(tags);
    if (cur === undefined || p[1] >= cur[1]) (b.live ??= new Map()).set(tags, [...p]);
    if (prevNewest !== undefined && p[0] - prevNewest > this.stepMs && this.#dense(prevNewest)) {
      return { holeFrom: prevNewest + this.stepMs, holeTo: p[0] - this.stepMs };
    }
    return undefined;
  }

  /** Did the series have a point in each of the few steps before `start`? (a dense series) */
  #dense(start: number): boolean {
    return this.#buckets.has(start - this.stepMs) && this.#buckets.has(start - 2 * this.stepMs);
  }

  get(start: number): Point | undefined {
    const b = this.#buckets.get(start);
    if (b === undefined) return undefined;
    let live: Point | undefined;
    if (b.live !== undefined) for (const p of b.live.values()) live = live === undefined ? [...p] : mergePoints(live, p);
    if (live === undefined) return b.rest;
    if (b.rest === undefined) return live;
    return live[1] >= b.rest[1] ? live : b.rest;
  }

  has(start: number): boolean {
    return this.#buckets.has(start);
  }

  newestStart(): number | undefined {
    return this.#newest;
  }

  /** Forget buckets older than `minStart` (the chart's window moved on). */
  trim(minStart: number): void {
    for (const start of this.#buckets.keys()) if (start < minStart) this.#buckets.delete(start);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/**
 * A long range (15m … 6h) shown at the coarse step. Old minutes come from the coarse REST answer;
 * minutes from `fineFrom` on are rebuilt from fine buckets (fine REST + live), so the current
 * minute moves live and never counts a sample twice (the coarse answer's last minute was partial).
 */
export class CoarseSeries implements SeriesSource {
  readonly stepMs: number;
  readonly coarse: SeriesBuffer;
  readonly fine: SeriesBuffer;
  #fineFrom = Number.POSITIVE_INFINITY;

  constructor(coarseStepMs: number, fineStepMs: number) {
    this.stepMs = coarseStepMs;
    this.coarse = new SeriesBuffer(coarseStepMs);
    this.fine = new SeriesBuffer(fineStepMs);
  }

  /** Coarse history up to now, and fine history from `fineFrom` (a coarse bucket boundary). */
  applyRest(coarse: readonly Point[], fine: readonly Point[], fineFrom: number): void {
    this.coarse.applyRest(coarse);
    this.fine.applyRest(fine);
    this.#fineFrom = Math.min(this.#fineFrom, fineFrom);
  }

  applyLive(tags: string, p: Point): void {
    this.fine.applyLive(tags, p);
  }

  get(start: number): Point | undefined {
    if (start < this.#fineFrom) return this.coarse.get(start);
    let acc: Point | undefined;
    for (let t = start; t < start + this.stepMs; t += this.fine.stepMs) {
      const p = this.fine.get(t);
      if (p !== undefined) acc = acc === undefined ? [start, p[1], p[2], p[3], p[4], p[5]] : mergePoints(acc, p);
    }
    return acc;
  }

  newestStart(): number | undefined {
    const f = this.fine.newestStart();
    const c = this.coarse.newestStart();
    const fc = f === undefined ? undefined : Math.floor(f / this.stepMs) * this.stepMs;
    if (fc === undefined) return c;
    return c === undefined ? fc : Math.max(c, fc);
  }

  trim(minStart: number): void {
    this.coarse.trim(minStart);
    this.fine.trim(Math.max(minStart, this.#fineFrom === Number.POSITIVE_INFINITY ? minStart : this.#fineFrom));
  }
}

/**
 * uPlot's aligned columns for several series over [from, to]: x in seconds at every step, y per
 * series (null where a bucket is empty, so the line breaks instead of inventing data).
 */
export function toColumns(series: readonly SeriesSource[], fromMs: number, toMs: number, stepMs: number, field: Field): [number[], ...(number | null)[][]] {
  const first = Math.ceil(fromMs / stepMs) * stepMs;
  const xs: number[] = [];
  for (let t = first; t <= toMs; t += stepMs) xs.push(t / 1000);
  const cols: (number | null)[][] = series.map((s) =>
    xs.map((x) => {
      const p = s.get(x * 1000);
      return p === undefined ? null : fieldOf(p, field);
    }),
  );
  return [xs, ...cols];
}

/** The newest point of a series (the legend's "current value"). */
export function latestPoint(s: SeriesSource): Point | undefined {
  const n = s.newestStart();
  return n === undefined ? undefined : s.get(n);
}

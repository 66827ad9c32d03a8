/**
 * The global indexes of the Redis state store as one worker maintains them (key layout in
 * redis-keys.ts): the series index behind the series limit, the source list and each metric's
 * sources. Index entries are refreshed at most once per INDEX_REFRESH_MS by each worker (cache
 * below), so in steady state a tick writes no index entries at all; the cache is dropped when
 * Redis reconnects (it may have restarted empty) and when they grow past a bound.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { metricOf, seriesField, type TickDelta } from '../aggregate/delta.js';
import type { CommitEntry } from '../aggregate/group-commit.js';
import { toStateError, type AnyRedis } from './redis-client.js';
import { INDEX_REFRESH_MS, seriesMember, type RedisKeys } from './redis-keys.js';

/**
 * Most members per ZMSCORE / ZADD / fp_meta call. Every command's argument count must stay bounded:
 * ioredis 5 spreads them into function calls, and an overflow inside its auto-pipeline leaves its
 * callbacks out of step — an uncaught exception that ends the process.
 */
const MAX_MEMBERS_PER_CALL = 1000;

export class RedisIndexes {
  readonly #keys: RedisKeys;
  readonly #maxSeries: number;
  readonly #coarseSpanMs: number;
  /**
   * Series this worker indexed, with when: source → `<metric>NUL<tags>` → ms. A series' source and
   * metric entries are (re)written together with it, so one cache covers all three indexes. Two
   * levels rather than one map by P:series member: a tick then looks each source up once and its
   * series by the delta's own field strings, instead of building and hashing a member string per
   * series per tick (the leading cost of admit() in a profile).
   */
  #known = new Map<string, Map<string, number>>();
  #knownCount = 0;

  constructor(keys: RedisKeys, o: { maxSeries: number; coarseSpanMs: number }) {
    this.#keys = keys;
    this.#maxSeries = o.maxSeries;
    this.#coarseSpanMs = o.coarseSpanMs;
  }

  /** Index entries scored at or below this are dead (older than the retention + one refresh). */
  liveFloor(now: number): number {
    return now - this.#coarseSpanMs - INDEX_REFRESH_MS;
  }

  /** Series this worker wrote recently. */
  get knownSeries(): number {
    return this.#knownCount;
  }

  forget(): void {
    this.#known = new Map();
    this.#knownCount = 0;
  }

  /** Note that a series' index entries were written at t. */
  #note(source: string, field: string, t: number): void {
    let k = this.#known.get(source);
    if (k === undefined) this.#known.set(source, (k = new Map()));
    if (!k.has(field)) this.#knownCount++;
    k.set(field, t);
  }

  /**
   * The series limit, checked before anything is written: `delta` holds every entry's samples.
   * Series this worker already indexed are known; others are looked up in P:series. When they all
   * fit, everything is admitted (the usual case, and no round trip at all once every series is
   * known). Otherwise entries are admitted in order while the live count plus their new series
   * stays within state.maxSeries; the others get SERIES_LIMIT in `results`, and the caller must
   * rebuild the delta without them (returns true). Approximate across concurrent writers (two
   * workers may both admit the last few series), exact for one writer.
   */
  async admit(client: AnyRedis, entries: readonly CommitEntry[], delta: TickDelta, results: Array<FleetPulseError | null>, now: number): Promise<boolean> {
    const unknown: string[] = [];
    for (const s of delta.sources.values()) {
      const k = this.#known.get(s.source);
      for (const field of s.series.keys()) if (k === undefined || !k.has(field)) unknown.push(seriesMember(s.source, field));
    }
    if (unknown.length === 0) return false;
    const floor = this.liveFloor(now);
    // New series are rare in steady state: a good moment to drop dead entries of the series index.
    void client.zremrangebyscore(this.#keys.series, '-inf', floor).catch(() => {});
    const [count, ...scoreChunks] = await Promise.all([
      client.zcount(this.#keys.series, `(${floor}`, '+inf'),
      ...chunks(unknown, MAX_MEMBERS_PER_CALL).map((c) => client.zmscore(this.#keys.series, ...c)),
    ]);
    const scores = (scoreChunks as Array<Array<string | null>>).flat();
    const fresh = new Set<string>();
    unknown.forEach((m, i) => {
      const sc = scores[i];
      if (sc === null || sc === undefined || Number(sc) <= floor) fresh.add(m);
    });
    let live = Number(count);
    if (live + fresh.size <= this.#maxSeries) return false;

    // Near the limit: entry by entry, in order (each entry is all-or-nothing).
    const admittedNew = new Set<string>();
    let rejected = false;
    for (let i = 0; i < entries.length; i++) {
      const b = entries[i]!.batch;
      const mine = new Set<string>();
      for (let j = 0; j < b.length; j++) {
        const m = seriesMember(b.source[j]!, seriesField(b.metric[j]!, b.tags[j]!));
        if (fresh.has(m) && !admittedNew.has(m)) mine.add(m);
      }
      if (mine.size > 0 && live + mine.size > this.#maxSeries) {
        results[i] = new FleetPulseError(ErrorCode.SERIES_LIMIT, `series limit reached: ${live} series live, ${mine.size} new ones would pass the limit of ${this.#maxSeries}`);
        rejected = true;
        continue;
      }
      live += mine.size;
      for (const m of mine) admittedNew.add(m);
    }
    return rejected;
  }

  /**
   * The index commands due in this tick (all single-key, outside the Lua call): metric unit/kind
   * changes every tick; a series' index entries (P:series, P:sources, P:ms:<metric>) when it is
   * new to this worker or was indexed more than INDEX_REFRESH_MS ago. An index write that fails
   * is retried next tick (the cache is not updated); it fails no ack.
   */
  async write(client: AnyRedis, delta: TickDelta, now: number): Promise<void> {
    const ops: Array<Promise<unknown>> = [];
    // fp_meta in calls of bounded size: ioredis spreads a command's arguments into function calls.
    let meta: Array<string | number> = [];
    for (const [metric, changes] of delta.meta) {
      meta.push(metric, changes.length);
      for (const c of changes) meta.push(c.unit, c.kind, c.at);
      if (meta.length >= MAX_MEMBERS_PER_CALL) {
        ops.push(client.fpMeta(this.#keys.metrics, ...meta));
        meta = [];
      }
    }
    if (meta.length > 0) ops.push(client.fpMeta(this.#keys.metrics, ...meta));

    const due: Array<[source: string, field: string]> = [];
    const sources = new Set<string>();
    const byMetric = new Map<string, Set<string>>();
    for (const s of delta.sources.values()) {
      const k = this.#known.get(s.source);
      for (const field of s.series.keys()) {
        const t = k?.get(field);
        if (t !== undefined && now - t < INDEX_REFRESH_MS) continue;
        due.push([s.source, field]);
        sources.add(s.source);
        const metric = metricOf(field);
        let l = byMetric.get(metric);
        if (l === undefined) byMetric.set(metric, (l = new Set()));
        l.add(s.source);
      }
    }
    if (due.length > 0) {
      const zadds: Array<Promise<unknown>> = [];
      const zadd = (key: string, names: Iterable<string>): void => {
        for (const part of chunks([...names], MAX_MEMBERS_PER_CALL)) {
          const args: Array<string | number> = [];
          for (const n of part) args.push(now, n);
          zadds.push(client.zadd(key, 'GT', ...args));
        }
      };
      zadd(this.#keys.series, due.map(([source, field]) => seriesMember(source, field)));
      zadd(this.#keys.sources, sources);
      for (const [metric, srcs] of byMetric) zadd(this.#keys.metricSources(metric), srcs);
      ops.push(Promise.all(zadds).then(() => {
        for (const [source, field] of due) this.#note(source, field, now);
      }));
    }
    if (this.#knownCount > 2 * this.#maxSeries + 100_000) this.forget(); // bound; costs only rewrites
    const settled = await Promise.allSettled(ops);
    for (const st of settled) if (st.status === 'rejected' && toStateError(st.reason).code === ErrorCode.INTERNAL) throw st.reason;
  }
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

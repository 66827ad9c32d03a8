/**
 * The global indexes of the Redis state store as one worker maintains them (key layout in
 * redis-keys.ts): the series index behind the series limit, the source list and each metric's
 * sources. Index entries are refreshed at most once per INDEX_REFRESH_MS by each worker (caches
 * below), so in steady state a tick writes no index entries at all; the caches are dropped when
 * Redis reconnects (it may have restarted empty) and when they grow past a bound.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { seriesField, type TickDelta } from '../aggregate/delta.js';
import type { CommitEntry } from '../aggregate/group-commit.js';
import { toStateError, type AnyRedis } from './redis-client.js';
import { INDEX_REFRESH_MS, seriesMember, type RedisKeys } from './redis-keys.js';

/** Most members per ZMSCORE / ZADD. */
const MAX_MEMBERS_PER_CALL = 1000;

export class RedisIndexes {
  readonly #keys: RedisKeys;
  readonly #maxSeries: number;
  readonly #coarseSpanMs: number;
  /** Index entries this worker wrote, with when (refresh after INDEX_REFRESH_MS). */
  #knownSeries = new Map<string, number>();
  #knownSources = new Map<string, number>();
  #knownMetricSources = new Map<string, number>();

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
    return this.#knownSeries.size;
  }

  forget(): void {
    this.#knownSeries = new Map();
    this.#knownSources = new Map();
    this.#knownMetricSources = new Map();
  }

  /**
   * The series limit, checked before anything is written. Series this worker already wrote are
   * known; others are looked up in P:series. Entries are admitted in order while the live count
   * plus their new series stays within state.maxSeries. Approximate across concurrent writers
   * (two workers may both admit the last few series), exact for one writer.
   * Returns the series members of the admitted entries.
   */
  async admit(client: AnyRedis, entries: readonly CommitEntry[], results: Array<FleetPulseError | null>, now: number): Promise<Map<string, string>> {
    const all = new Map<string, string>(); // member → source
    const unknownPer: Array<Set<string> | undefined> = [];
    const unknown = new Set<string>();
    entries.forEach((e, i) => {
      const b = e.batch;
      for (let j = 0; j < b.length; j++) {
        const m = seriesMember(b.source[j]!, seriesField(b.metric[j]!, b.tags[j]!));
        if (!this.#knownSeries.has(m)) {
          (unknownPer[i] ??= new Set()).add(m);
          unknown.add(m);
        }
        all.set(m, b.source[j]!);
      }
    });
    if (unknown.size === 0) return all;
    const floor = this.liveFloor(now);
    const list = [...unknown];
    // New series are rare in steady state: a good moment to drop dead entries of the series index.
    void client.zremrangebyscore(this.#keys.series, '-inf', floor).catch(() => {});
    const [count, ...scoreChunks] = await Promise.all([
      client.zcount(this.#keys.series, `(${floor}`, '+inf'),
      ...chunks(list, MAX_MEMBERS_PER_CALL).map((c) => client.zmscore(this.#keys.series, ...c)),
    ]);
    const scores = (scoreChunks as Array<Array<string | null>>).flat();
    const fresh = new Set<string>();
    list.forEach((m, i) => {
      const s = scores[i];
      if (s === null || s === undefined || Number(s) <= floor) fresh.add(m);
    });
    let live = Number(count);
    const admittedNew = new Set<string>();
    entries.forEach((_e, i) => {
      const mine = unknownPer[i];
      if (mine === undefined) return;
      let n = 0;
      for (const m of mine) if (fresh.has(m) && !admittedNew.has(m)) n++;
      if (n > 0 && live + n > this.#maxSeries) {
        results[i] = new FleetPulseError(ErrorCode.SERIES_LIMIT, `series limit reached: ${live} series live, ${n} new ones would pass the limit of ${this.#maxSeries}`);
        return;
      }
      live += n;
      for (const m of mine) if (fresh.has(m)) admittedNew.add(m);
    });
    if (results.some((r) => r !== null)) {
      // Drop members only rejected entries brought.
      const keep = new Map<string, string>();
      entries.forEach((e, i) => {
        if (results[i] !== null) return;
        const b = e.batch;
        for (let j = 0; j < b.length; j++) keep.set(seriesMember(b.source[j]!, seriesField(b.metric[j]!, b.tags[j]!)), b.source[j]!);
      });
      return keep;
    }
    return all;
  }

  /**
   * The index commands due in this tick (all single-key, outside the Lua call): metric unit/kind
   * changes every tick; index entries only when new or older than INDEX_REFRESH_MS. An index
   * write that fails is retried next tick (its cache entry is not updated); it fails no ack.
   */
  async write(client: AnyRedis, delta: TickDelta, members: Map<string, string>, now: number): Promise<void> {
    const due = (cache: Map<string, number>, k: string): boolean => {
      const t = cache.get(k);
      return t === undefined || now - t >= INDEX_REFRESH_MS;
    };
    const ops: Array<Promise<unknown>> = [];
    const zadd = (key: string, cache: Map<string, number>, cacheKeys: string[], names: string[]): void => {
      for (let i = 0; i < names.length; i += MAX_MEMBERS_PER_CALL) {
        const part = names.slice(i, i + MAX_MEMBERS_PER_CALL);
        const ck = cacheKeys.slice(i, i + MAX_MEMBERS_PER_CALL);
        const args: Array<string | number> = [];
        for (const n of part) args.push(now, n);
        ops.push(client.zadd(key, 'GT', ...args).then(() => {
          for (const k of ck) cache.set(k, now);
        }));
      }
    };
    const meta: Array<string | number> = [];
    for (const [metric, changes] of delta.meta) {
      meta.push(metric, changes.length);
      for (const c of changes) meta.push(c.unit, c.kind, c.at);
    }
    if (meta.length > 0) ops.push(client.fpMeta(this.#keys.metrics, ...meta));

    const sources = [...delta.sources.keys()].filter((s) => due(this.#knownSources, s));
    if (sources.length > 0) zadd(this.#keys.sources, this.#knownSources, sources, sources);
    const byMetric = new Map<string, string[]>();
    for (const s of delta.sources.values()) {
      for (const sd of s.series.values()) {
        const k = sd.metric + '\u0000' + s.source;
        if (!due(this.#knownMetricSources, k)) continue;
        let l = byMetric.get(sd.metric);
        if (l === undefined) byMetric.set(sd.metric, (l = []));
        if (!l.includes(s.source)) l.push(s.source);
      }
    }
    for (const [metric, srcs] of byMetric) zadd(this.#keys.metricSources(metric), this.#knownMetricSources, srcs.map((s) => metric + '\u0000' + s), srcs);
    const series = [...members.keys()].filter((m) => due(this.#knownSeries, m));
    if (series.length > 0) zadd(this.#keys.series, this.#knownSeries, series, series);

    if (this.#knownSeries.size > 2 * this.#maxSeries + 100_000) this.forget(); // bound; costs only rewrites
    const settled = await Promise.allSettled(ops);
    for (const s of settled) if (s.status === 'rejected' && toStateError(s.reason).code === ErrorCode.INTERNAL) throw s.reason;
  }

}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

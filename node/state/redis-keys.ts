/**
 * Key layout of the Redis state store (P = state.redisKeyPrefix, default `fp:`).
 *
 * Per source, both in the slot of the hash tag `{s:<source>}`, so one Lua call per source stays in
 * one slot on Redis Cluster:
 *   P{s:<source>}:i   hash: `ls` lastSeen ms, `iv` smoothed interval ms, `n` last series id, and
 *                     per series `<metric>NUL<tags>` → its id (the source's series index)
 *   P{s:<source>}:d   hash: the buckets of every series of the source: `H` (every series' ring
 *                     heads and current coarse bucket), `<id>F<c>`, `<id>X<c>`, `<id>C<c>` chunks
 *                     (binary layouts in redis-scripts.ts)
 *   Both expire coarse retention + slack after the source's last write.
 * Global indexes (each one key, so one slot; written in the same round trip, outside the Lua call):
 *   P:sources                       zset source → last index time (ms), for GET /sources
 *   P:metrics                       hash metric → <Bd kind updatedAt + unit
 *   P:ms:<metric>                   zset source → last index time, for /metrics counts and /summary
 *   P:series                        zset <source>NUL<metric>NUL<tags> → last index time (series limit)
 *   P:seq:<stream>                  string: highest applied seq of a named stream, TTL streamSeqTtlMs
 * Index scores are refreshed at most once per INDEX_REFRESH_MS by each worker; an entry older than
 * the coarse retention (plus that refresh) is dead and pruned on read.
 */

/** How often a worker re-touches an index entry it already wrote. */
export const INDEX_REFRESH_MS = 60_000;

export class RedisKeys {
  readonly #p: string;

  constructor(prefix: string) {
    this.#p = prefix;
  }

  /** Prefix of every key of a source; the hash tag keeps them in one slot. */
  sourceBase(source: string): string {
    return `${this.#p}{s:${source}}:`;
  }
  info(source: string): string {
    return `${this.sourceBase(source)}i`;
  }
  data(source: string): string {
    return `${this.sourceBase(source)}d`;
  }
  get sources(): string {
    return `${this.#p}sources`;
  }
  get metrics(): string {
    return `${this.#p}metrics`;
  }
  metricSources(metric: string): string {
    return `${this.#p}ms:${metric}`;
  }
  get series(): string {
    return `${this.#p}series`;
  }
  streamSeq(stream: string): string {
    return `${this.#p}seq:${stream}`;
  }
}

/** Member of P:series. */
export function seriesMember(source: string, field: string): string {
  return source + '\u0000' + field;
}

/**
 * Key layout of the Redis state store (P = state.redisKeyPrefix, default `fp:`).
 *
 * Per source, all in the slot of the hash tag `{s:<source>}` (one slot per source on Cluster):
 *   P{s:<source>}:w        set: ids of the writers (worker processes) holding a partial of it
 *   P{s:<source>}:i:<w>    writer w's series index: `n` last series id, and per series
 *                          `<metric>NUL<tags>` → its id (written only when a series is new)
 *   P{s:<source>}:d:<w>    writer w's data: `L` (<dd lastSeen ms, smoothed interval ms), `HB` (per
 *                          series its ring heads and both head buckets), `<id>F<c>` (fine chunk and
 *                          its overflow) and `<id>C<c>` chunks (layouts in redis-scripts.ts)
 *   All three expire coarse retention + slack after the writer's last write to the source.
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
  writers(source: string): string {
    return `${this.sourceBase(source)}w`;
  }
  info(source: string, writer: string): string {
    return `${this.sourceBase(source)}i:${writer}`;
  }
  data(source: string, writer: string): string {
    return `${this.sourceBase(source)}d:${writer}`;
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

/**
 * The write path of the Redis state store: this writer's partials (redis-partial.ts), kept in
 * memory, merged with each tick's deltas and written — on a standalone Redis as one MULTI/EXEC
 * transaction of plain HSET/HDEL/SADD/PEXPIRE per part of the tick (whole requests' sources, at
 * least MIN_SOURCES_PER_CALL of them: a part is applied wholly or not at all, so a request is too
 * unless it alone passes MAX_SOURCES_PER_CALL) on the write connection (resp-pipe.ts, where the
 * measurements that chose it are); on a Cluster as one fp_put script per source (a source's keys
 * share one slot), which runs the same commands. No reads in either; the worker reads only what
 * is not in memory (a late sample's chunk, an evicted source).
 *
 * A failed write leaves memory ahead of Redis, so the partials of the sources it touched are
 * dropped and reloaded from Redis on their next write: memory never holds a sample Redis does not.
 *
 * Several ticks may be in flight at once (group-commit.ts). Each merges into memory and sends its
 * writes without an await in between, so a source's writes reach Redis in tick order over one
 * connection (a write rewrites what memory holds: a reordered write would lose samples). Only the
 * reads before that (reloads, missing chunks) overlap other ticks; #prepare,
 * PartialSource.loaded() and trim() keep a read from bringing back bytes older than memory's, and
 * on a standalone Redis a read of our own partial (on the other connection) first waits until
 * every write sent before it is answered.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { SourceDelta, TickDelta } from '../aggregate/delta.js';
import { MIN_INTERVAL_MS } from './merge.js';
import { toStateError, type AnyRedis } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { PartialSource, type RingShape } from './redis-partial.js';
import { bulk, commandHead, RespWriter, type RespPipe } from './resp-pipe.js';

export interface WriteResult {
  /** Sources whose write failed, and why. */
  failed: Map<string, FleetPulseError>;
  /** The partials written (their `live` series: what changed, for the live updates). */
  written: PartialSource[];
}

/** A partial nobody wrote to for this long leaves memory (it reloads if written again). */
const IDLE_MS = 120_000;
/**
 * Sources per fp_put on a standalone Redis: a tick is sent in parts of at least MIN whole requests'
 * sources as it is merged, so Redis works on one part while the worker encodes the next (one call
 * per tick left the worker idle ~25% of the time, waiting for Redis; measured). MAX bounds the
 * keys and run time of one call: only past it may a part split a request.
 */
const MIN_SOURCES_PER_CALL = 100;
const MAX_SOURCES_PER_CALL = 500;

/** One source's part of an fp_put call: its data list is `HB`, `L`, then `writes`. */
export interface PutPart {
  refresh: boolean;
  /** Info fields and values (only when a series is new). */
  info: readonly string[];
  H: Buffer;
  /** Liveness (`L`: <dd): lastSeen ms and the smoothed interval ms. */
  ls: number;
  iv: number;
  /** Changed chunks: field names (ASCII) and bytes. */
  writes: ReadonlyArray<string | Buffer>;
  /** Chunk fields to delete (ASCII). */
  dels: readonly string[];
}

const utf8Len = (v: string | Buffer): number => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length);
/** Our own field names and numbers are ASCII: their length is their byte length. */
const asciiLen = (v: string | Buffer): number => v.length;

function listBytes(l: ReadonlyArray<string | Buffer>, len: (v: string | Buffer) => number): number {
  let n = 4;
  for (const v of l) n += 4 + len(v);
  return n;
}

/** One <I4 length, bytes item at o; returns the offset after it. */
function putItem(out: Buffer, o: number, v: string | Buffer, encoding: 'utf8' | 'latin1'): number {
  const n = typeof v === 'string' ? out.write(v, o + 4, encoding) : v.copy(out, o + 4);
  out.writeUInt32LE(n, o);
  return o + 4 + n;
}

function putList(out: Buffer, o: number, l: ReadonlyArray<string | Buffer>, encoding: 'utf8' | 'latin1'): number {
  o = out.writeUInt32LE(l.length, o);
  for (const v of l) o = putItem(out, o, v, encoding);
  return o;
}

/**
 * fp_put's blob (PUT_LUA): per source <B refresh, then each list as <I4 count, count × (<I4 length,
 * bytes). Sized first, then written in one pass straight into the blob (no per-item Buffers).
 */
export function encodePut(parts: readonly PutPart[]): Buffer {
  let size = 0;
  for (const x of parts) {
    size += 1 + listBytes(x.info, utf8Len) + listBytes(x.writes, asciiLen) + listBytes(x.dels, asciiLen);
    size += 4 * 4 + 2 + x.H.length + 1 + 16; // HB, L
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const x of parts) {
    o = out.writeUInt8(x.refresh ? 1 : 0, o);
    o = putList(out, o, x.info, 'utf8');
    o = out.writeUInt32LE(4 + x.writes.length, o);
    o = putItem(out, o, 'HB', 'latin1');
    o = putItem(out, o, x.H, 'latin1');
    o = putItem(out, o, 'L', 'latin1');
    o = out.writeUInt32LE(16, o);
    o = out.writeDoubleLE(x.ls, o);
    o = out.writeDoubleLE(x.iv, o);
    for (const v of x.writes) o = putItem(out, o, v, 'latin1');
    o = putList(out, o, x.dels, 'latin1');
  }
  return out;
}

/**
 * The same writes as fp_put, as plain commands for one MULTI/EXEC on a standalone Redis (resp-pipe.ts):
 * per source HSET of its data hash (HB, L, changed chunks), and when due HSET of its series index,
 * HDEL of dropped chunks, and the writer set and TTLs. Returns the commands and their count.
 */
export function encodeTx(keys: RedisKeys, writer: string, ttl: string, sources: readonly string[], dataKeys: readonly Buffer[], parts: readonly PutPart[]): { commands: Buffer; count: number } {
  let size = 64;
  for (const x of parts) {
    size += 96 + x.H.length + 64 * x.info.length + 16 * x.dels.length;
    for (const v of x.writes) size += 16 + v.length;
  }
  const w = new RespWriter(size);
  parts.forEach((x, i) => {
    const source = sources[i]!;
    const data = dataKeys[i]!;
    if (x.info.length > 0) {
      w.command(2 + x.info.length).str('HSET').str(keys.info(source, writer));
      for (const v of x.info) w.str(v);
    }
    // The usual tick of a source: HB and L only.
    if (x.writes.length === 0) w.command(6, HSET_HEADS);
    else w.command(6 + x.writes.length).raw(HSET);
    w.raw(data).raw(HB).bytes(x.H).raw(L).doubles(x.ls, x.iv);
    for (const v of x.writes) {
      if (typeof v === 'string') w.str(v);
      else w.bytes(v);
    }
    if (x.dels.length > 0) {
      w.command(2 + x.dels.length).raw(HDEL).raw(data);
      for (const f of x.dels) w.str(f);
    }
    if (x.refresh) {
      w.command(3).str('SADD').str(keys.writers(source)).str(writer);
      w.command(3).str('PEXPIRE').str(keys.writers(source)).str(ttl);
      w.command(3).str('PEXPIRE').str(keys.info(source, writer)).str(ttl);
      w.command(3, PEXPIRE).raw(data).str(ttl);
    }
  });
  return { commands: w.done(), count: w.count };
}

/** Arguments and command heads written for every source, encoded once. */
const HSET = bulk('HSET');
const HDEL = bulk('HDEL');
const HSET_HEADS = commandHead(6, 'HSET');
const PEXPIRE = commandHead(3, 'PEXPIRE');
const HB = bulk('HB');
const L = bulk('L');

const NONE: readonly string[] = [];

/** A partial's `L` field: [lastSeen ms, smoothed interval ms], or undefined when absent. */
export function decodeLiveness(L: Buffer | null): [number, number] | undefined {
  return L === null || L.length < 16 ? undefined : [L.readDoubleLE(0), L.readDoubleLE(8)];
}

/**
 * A tick's sources (in order of first appearance) cut into fp_put parts of at least `min` sources,
 * each cut where no add() of the delta has sources on both sides — so a request is written by one
 * atomic call, as when a tick was one call — unless a part reaches `max` without such a cut.
 */
export function putGroups<T>(sources: readonly T[], span: (x: T) => Pick<SourceDelta, 'firstAdd' | 'lastAdd'>, min: number, max: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let last = -1;
  for (const x of sources) {
    const s = span(x);
    if (cur.length >= max || (cur.length >= min && last < s.firstAdd)) {
      out.push(cur);
      cur = [];
    }
    cur.push(x);
    if (s.lastAdd > last) last = s.lastAdd;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function chunked<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

export class PartialWriter {
  /** This writer's id: one per process (a restarted worker starts new partials). */
  readonly id = randomBytes(6).toString('hex');
  readonly #keys: RedisKeys;
  readonly #shape: RingShape;
  /** The TTL argument of fp_put, ms. */
  readonly #ttl: string;
  #partials = new Map<string, PartialSource>();
  /** Sources this writer has a partial of in Redis (may be out of memory). */
  readonly #written = new Set<string>();
  /** Reloads in progress, by source. */
  readonly #reloading = new Map<string, Promise<void>>();

  constructor(keys: RedisKeys, shape: RingShape, ttlMs: number) {
    this.#keys = keys;
    this.#shape = shape;
    this.#ttl = String(ttlMs);
  }

  /** Partials in memory (for stats). */
  get sources(): number {
    return this.#partials.size;
  }

  /** Forget what is in memory (Redis may have restarted, possibly without our last writes). */
  forget(): void {
    this.#partials = new Map();
  }

  /** Drop partials idle for IDLE_MS. */
  sweep(now: number): void {
    for (const [s, p] of this.#partials) if (now - p.lastUsed > IDLE_MS) this.#partials.delete(s);
  }

  /**
   * Write a tick. `pipe`: a standalone Redis' write connection (transactions of plain commands);
   * undefined on a Cluster, where each source is one fp_put (its keys share one slot).
   */
  async write(client: AnyRedis, delta: TickDelta, now: number, pipe: RespPipe | undefined): Promise<WriteResult> {
    const failed = new Map<string, FleetPulseError>();
    const ready = await this.#prepare(client, pipe, [...delta.sources.values()], now, failed);
    // From here on synchronous up to the writes: no other tick's merge interleaves.
    // One write per part of the tick (standalone), or per source (Cluster), each sent as soon as
    // it is merged.
    const groups = pipe === undefined ? ready.map((x) => [x]) : putGroups(ready, ([s]) => s, MIN_SOURCES_PER_CALL, MAX_SOURCES_PER_CALL);
    const puts: Array<Promise<void>> = [];
    for (const group of groups) {
      for (const [s, p] of group) this.#merge(s, p);
      puts.push(this.#put(client, pipe, group, now, failed));
    }
    await Promise.all(puts);
    for (const [s] of ready) this.#partials.get(s.source)?.trim(this.#shape);
    const written = ready.map(([, p]) => p);
    return { failed, written: failed.size === 0 ? written : written.filter((p) => !failed.has(p.source)) };
  }

  /**
   * This writer's partial of every source, with the chunks its deltas need, in memory. A partial
   * that left memory is reloaded from Redis — once, however many ticks wait for it: a second reload
   * could replace a partial a tick already wrote with an older copy, losing that tick's samples.
   * A source whose partial was dropped while we waited (another tick's write of it failed, so memory
   * may be ahead of Redis; or Redis reconnected) goes to `failed`: the client retries.
   */
  async #prepare(client: AnyRedis, pipe: RespPipe | undefined, sources: readonly SourceDelta[], now: number, failed: Map<string, FleetPulseError>): Promise<Array<[SourceDelta, PartialSource]>> {
    const reload = sources.filter((s) => !this.#partials.has(s.source) && this.#written.has(s.source));
    if (reload.length > 0) await Promise.all(reload.map((s) => this.#reloadOnce(client, pipe, s.source)));
    const held: Array<PartialSource | undefined> = [];
    const loads: Array<Promise<void>> = [];
    for (const s of sources) {
      let p = this.#partials.get(s.source);
      if (p === undefined && !this.#written.has(s.source)) this.#partials.set(s.source, (p = new PartialSource(s.source)));
      held.push(p);
      if (p === undefined) continue;
      p.lastUsed = now; // not swept while its chunks are read
      const need = this.#missing(s, p);
      if (need !== undefined) loads.push(this.#load(client, pipe, s.source, p, need));
    }
    if (loads.length > 0) await Promise.all(loads);
    const ready: Array<[SourceDelta, PartialSource]> = [];
    sources.forEach((s, i) => {
      const p = held[i];
      if (p !== undefined && this.#partials.get(s.source) === p) ready.push([s, p]);
      else failed.set(s.source, new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'state store unavailable: an earlier write of this source failed', { retryAfterS: 1 }));
    });
    return ready;
  }

  /** The chunk fields a source's deltas need that are not in memory (undefined: none). */
  #missing(s: SourceDelta, p: PartialSource): string[] | undefined {
    let need: string[] | undefined;
    for (const [field, sr] of s.series) {
      for (const f of p.missing(field, s.buckets, sr, this.#shape)) {
        if (need === undefined) need = [f];
        else if (!need.includes(f)) need.push(f);
      }
    }
    return need;
  }

  /** Merge a source's deltas into its partial (its liveness too, as the memory store's touchSource()). */
  #merge(s: SourceDelta, p: PartialSource): void {
    for (const r of s.receivedAts) {
      if (p.ls === undefined) {
        p.ls = r;
        p.iv = 0;
        continue;
      }
      const gap = r - p.ls;
      if (gap >= MIN_INTERVAL_MS) p.iv = p.iv === 0 ? gap : 0.8 * p.iv + 0.2 * gap;
      if (r > p.ls) p.ls = r;
    }
    for (const [field, sr] of s.series) p.apply(field, s.buckets, sr, this.#shape);
  }

  /** One write of a group of sources (sent before this returns a promise: in call order). */
  async #put(client: AnyRedis, pipe: RespPipe | undefined, group: ReadonlyArray<[SourceDelta, PartialSource]>, now: number, failed: Map<string, FleetPulseError>): Promise<void> {
    const keys: string[] = [];
    const parts: PutPart[] = [];
    for (const [s, p] of group) parts.push(this.#part(keys, s.source, p, now));
    try {
      if (pipe === undefined) await client.fpPut(keys.length, ...keys, this.id, this.#ttl, encodePut(parts));
      else {
        const tx = encodeTx(this.#keys, this.id, this.#ttl, group.map(([s]) => s.source), group.map(([, p]) => (p.putKeyBulk ??= bulk(p.putKey!))), parts);
        await pipe.exec(tx.commands, tx.count);
      }
      for (const [s] of group) this.#written.add(s.source);
    } catch (err) {
      const e = toStateError(err);
      for (const [s, p] of group) {
        failed.set(s.source, e);
        // Memory is ahead of Redis now, and the write may or may not have landed (a reply lost
        // with the connection): reload from Redis on the next write, whatever it holds.
        p.dropped = true;
        this.#partials.delete(s.source);
        this.#written.add(s.source);
      }
    }
  }

  /** Read chunks a delta needs into p (bounded HMGETs), after the writes in flight landed. */
  async #load(client: AnyRedis, pipe: RespPipe | undefined, source: string, p: PartialSource, need: readonly string[]): Promise<void> {
    p.loading++;
    try {
      await pipe?.drain();
      for (const part of chunked(need, 1000)) p.loaded(part, await client.hmgetBuffer(this.#keys.data(source, this.id), ...part), this.#shape);
    } finally {
      p.loading--;
    }
  }

  /**
   * A source's part of fp_put (see PUT_LUA): its data key, and usually just the data hash fields
   * (heads, liveness, changed chunks); info fields only when a series is new.
   */
  #part(keys: string[], source: string, p: PartialSource, now: number): PutPart {
    keys.push((p.putKey ??= this.#keys.data(source, this.id)));
    // Once a minute: (re)join the source's writer set and push the TTLs out (the TTL has slack).
    const minute = Math.floor(now / 60_000);
    const refresh = minute !== p.ttlMinute;
    p.ttlMinute = minute;
    let info: readonly string[] = NONE;
    if (p.newIndex.size > 0) {
      const l = ['n', String(p.nextSid)];
      for (const [f, sid] of p.newIndex) l.push(f, sid);
      info = l;
    }
    return { refresh, info, H: p.heads(), ls: p.ls ?? 0, iv: p.iv, writes: p.takeWrites(), dels: p.dels.length === 0 ? NONE : [...p.dels] };
  }

  /** #reload(), shared by every tick that needs the same source meanwhile. */
  #reloadOnce(client: AnyRedis, pipe: RespPipe | undefined, source: string): Promise<void> {
    let r = this.#reloading.get(source);
    if (r === undefined) {
      r = this.#reload(client, pipe, source).finally(() => this.#reloading.delete(source));
      this.#reloading.set(source, r);
    }
    return r;
  }

  /** Load this writer's partial of a source from Redis (after it left memory, and the writes in flight landed). */
  async #reload(client: AnyRedis, pipe: RespPipe | undefined, source: string): Promise<void> {
    await pipe?.drain();
    const [info, [H, L]] = await Promise.all([client.hgetall(this.#keys.info(source, this.id)), client.hmgetBuffer(this.#keys.data(source, this.id), 'HB', 'L')]);
    const p = new PartialSource(source);
    const live = decodeLiveness(L ?? null);
    if (live !== undefined) [p.ls, p.iv] = live;
    p.nextSid = Number(info.n ?? 0);
    const index = new Map<string, number>();
    for (const [f, v] of Object.entries(info)) if (f.includes('\u0000')) index.set(f, Number(v));
    p.loadHeads(H ?? null, index);
    this.#partials.set(source, p);
  }
}

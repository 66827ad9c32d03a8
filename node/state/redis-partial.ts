/**
 * This writer's partial of a source, kept in the worker and written to Redis blindly.
 *
 * Every RedisStateStore instance (a worker process) has a writer id and owns, per source it
 * writes, a partial: its own ring heads and buckets, in Redis as `P{s:<source>}:d:<writer>`
 * (binary layouts in redis-scripts.ts). Nobody else writes a partial, so the worker can merge a
 * tick's deltas in memory and write the changed fields with plain HSET — no read, no Lua —
 * while readers merge all partials of a source exactly as memory mode merges partitions
 * (count/sum add, min/max compare, last by timestamp). That is what makes concurrent writers
 * correct by construction, and the write path cheap: Redis does ~1 µs of work per series written
 * instead of a read-modify-write script (measured in bench/state and the store notes).
 *
 * Both rings keep their head bucket — the one nearly every sample lands in — as plain numbers, in
 * memory and in one field `HB` per source (a slot of HEAD_SLOT_BYTES per series); chunks hold every
 * other bucket and are written only when the head moves on or a late sample lands in one. So a
 * tick writes ~93 bytes per series it touched, however many samples it held and however wide the
 * chunks are (it was the whole head chunk and its overflow, 143 + 240 bytes: 4× the bytes to Redis
 * on push, measured in bench/state).
 *
 * The worker keeps only what it may write again soon — the heads and the chunks it wrote most
 * recently — and reads its own partial back from Redis for anything else (a late sample, an
 * evicted source). Ring semantics are those of the memory rings (rings.ts).
 */
import { COUNT, LAST, MAX, MIN, OFF, orderedRecords, ringAt, S_COUNT, S_COUNTER, S_RECEIVED, SUM, type BucketArena, type BucketDelta, type Ring, type SeriesRef } from '../aggregate/delta.js';
import type { BucketUpdate } from './store.js';

/** Bytes per slot: fine chunk, fine overflow chunk, coarse chunk (one bucket each). */
export const FS = 10;
export const XS = 30;
export const CS = 38;
/** Bytes per series in `HB`: heads and flags (17), coarse head bucket (38), fine head bucket (38). */
export const HEAD_SLOT_BYTES = 93;
const MULTI = 0xffff;

export interface RingShape {
  fineN: number;
  coarseN: number;
  /** Buckets per chunk. */
  ch: number;
}

/**
 * A chunk of a series in memory: key c·3 + kind (0 fine, 1 fine overflow, 2 coarse) → bytes, or
 * null when absent in Redis. In Redis a fine chunk and its overflow are one field, `<id>F<c>`: the
 * fine bytes, then the overflow's when it has one — a head moving on writes one field per series,
 * not two (Redis' cost of a field is ~1 µs whatever its size; measured).
 */
const FINE = 0;
const OVER = 1;
const COARSE = 2;
/** Field letter by kind (the overflow travels in its fine chunk's field). */
const KIND = ['F', 'F', 'C'] as const;

export interface SeriesState {
  sid: number;
  /** `<metric>NUL<tags>`, and its parts (for live updates). */
  field: string;
  metric: string;
  tags: string;
  /** Chunks in memory, by c·3 + kind. */
  chunks: Map<number, Buffer | null>;
  /**
   * Chunk keys changed since the last flush (a few at most). Arrays here and for the partial's
   * touched and live series, not Sets: Set.clear() allocates a new table, per series per tick.
   */
  dirty: number[];
  /** A chunk entry was set since the last trim() (only then may it have something to drop). */
  grown: boolean;
  /** In the partial's `touched` / `live` list. */
  inTouched: boolean;
  inLive: boolean;
  counter: boolean;
  fh: number | undefined;
  ch: number | undefined;
}

/** A ring's head bucket (a bucket's worth: count, sum, min, max, last, offset of last). */
export type HeadBucket = Omit<BucketDelta, 'b'>;

/**
 * Head buckets live in one Float64Array per partial, HEAD_NUMBERS per series (slot sid-1): the
 * fine head bucket at FINE_HEAD, the coarse one at COARSE_HEAD, each count, sum, min, max, last,
 * offset of last (count 0 while the ring has none), then the series' newest receive time. As two objects per series (their doubles
 * boxed) they were scattered over the heap, and a tick's first touch of each was a cache miss
 * (profiled); one array per source keeps a source's heads together.
 */
const HEAD_NUMBERS = 13;
const FINE_HEAD = 0;
const COARSE_HEAD = 6;
const H_COUNT = 0;
const H_SUM = 1;
const H_MIN = 2;
const H_MAX = 3;
const H_LAST = 4;
const H_OFF = 5;
/** After both heads: the series' receive time of its newest apply (a number here, not a boxed field). */
const RECEIVED = 12;

/** A bucket at h[o] starts over with a delta (record r of d: a head that moved on, an empty slot). */
function startHead(h: Float64Array, o: number, d: Float64Array, r: number): void {
  h[o + H_COUNT] = d[r + COUNT]!;
  h[o + H_SUM] = d[r + SUM]!;
  h[o + H_MIN] = d[r + MIN]!;
  h[o + H_MAX] = d[r + MAX]!;
  h[o + H_LAST] = d[r + LAST]!;
  h[o + H_OFF] = d[r + OFF]!;
}

/** A delta (record r of d) merged into the bucket at h[o] (it arrived after everything in it: `last` ties go to it). */
function addToHead(h: Float64Array, o: number, d: Float64Array, r: number): void {
  h[o + H_COUNT] = h[o + H_COUNT]! + d[r + COUNT]!;
  h[o + H_SUM] = h[o + H_SUM]! + d[r + SUM]!;
  if (d[r + MIN]! < h[o + H_MIN]!) h[o + H_MIN] = d[r + MIN]!;
  if (d[r + MAX]! > h[o + H_MAX]!) h[o + H_MAX] = d[r + MAX]!;
  if (d[r + OFF]! >= h[o + H_OFF]!) {
    h[o + H_LAST] = d[r + LAST]!;
    h[o + H_OFF] = d[r + OFF]!;
  }
}

/** `HB` of a partial with no series yet (never written to: heads() replaces it when it grows). */
const NO_HEADS = Buffer.alloc(0);

export class PartialSource {
  readonly source: string;
  /** Receive-time liveness of this writer's view of the source (memory: touchSource). */
  ls: number | undefined;
  iv = 0;
  nextSid = 0;
  readonly series = new Map<string, SeriesState>();
  /** Series written since the last flush, each once. */
  readonly touched: SeriesState[] = [];
  /** Series written since the last takeLive(), each once. */
  readonly live: SeriesState[] = [];
  /** Left the writer after a failed write: its state may be ahead of Redis, so it shows nothing live. */
  dropped = false;
  /** Chunk fields to delete (fell out of a ring). */
  readonly dels: string[] = [];
  /** Series index fields (`<metric>NUL<tags>` → sid) new since the last flush. */
  readonly newIndex = new Map<string, string>();
  /** Minute of the last TTL refresh. */
  ttlMinute = -1;
  lastUsed = 0;
  /** Chunk reads (missing → loaded) in flight. */
  loading = 0;
  /** This writer's data key of the source (fp_put's key), built once. */
  putKey: string | undefined;
  /** putKey as a RESP argument (resp-pipe.ts). */
  putKeyBulk: Buffer | undefined;
  /** The head buckets of the series, HEAD_NUMBERS per slot (see HEAD_NUMBERS). */
  #heads = new Float64Array(0);
  /** `HB` as of the last heads() (see there), and a view for its numbers. */
  #H: Buffer = NO_HEADS;
  #HV: DataView = new DataView(NO_HEADS.buffer, NO_HEADS.byteOffset, 0);

  constructor(source: string) {
    this.source = source;
  }

  /** The chunk fields a delta needs that are not in memory (read them, then loaded(), before apply()). */
  missing(field: string, a: BucketArena, sr: SeriesRef, shape: RingShape): readonly string[] {
    const s = this.series.get(field);
    if (s === undefined || s.fh === undefined) return NONE; // a new series: nothing of it exists
    let out: string[] | undefined;
    // Chunks past the head's are past anything written: nothing of them is in Redis.
    const top = Math.floor(s.fh / shape.ch);
    let fh = s.fh;
    const data = a.data;
    const fines = inOrder(a, sr, 'fine');
    for (let i = 0, n = data[sr + ringAt('fine') + S_COUNT]!; i < n; i++) {
      const xb = data[nth(data, sr + ringAt('fine'), fines, i)]!;
      if (xb === fh) continue;
      // Moving the head writes the old head bucket into its chunk; a late sample writes one.
      const b = xb > fh ? fh : xb;
      if (xb > fh) fh = xb;
      else if (xb <= fh - shape.fineN) continue; // older than the fine ring: the coarse ring takes it
      const c = Math.floor(b / shape.ch);
      if (c > top) continue;
      out = need(s, c, FINE, out);
    }
    if (s.ch !== undefined) {
      let ch = s.ch;
      const coarses = inOrder(a, sr, 'coarse');
      for (let i = 0, n = data[sr + ringAt('coarse') + S_COUNT]!; i < n; i++) {
        const xb = data[nth(data, sr + ringAt('coarse'), coarses, i)]!;
        // Moving the head writes the old head bucket into its chunk; a late sample writes one.
        if (xb > ch) {
          out = need(s, Math.floor(ch / shape.ch), COARSE, out);
          ch = xb;
        } else if (xb < ch && xb > ch - shape.coarseN) out = need(s, Math.floor(xb / shape.ch), COARSE, out);
      }
    }
    return out === undefined ? NONE : [...new Set(out)];
  }

  /**
   * Chunks read from Redis for missing(): `<sid><F|C><c>` → bytes or null (a fine field splits into
   * the chunk and its overflow). A chunk already in memory is kept: memory is never behind Redis,
   * and a tick may have written to the chunk while another tick's read of it was in flight (that
   * read may predate the write).
   */
  loaded(fields: readonly string[], values: ReadonlyArray<Buffer | null>, shape: RingShape): void {
    const bySid = new Map<number, SeriesState>();
    for (const st of this.series.values()) bySid.set(st.sid, st);
    const fineBytes = shape.ch * FS;
    fields.forEach((f, i) => {
      const m = /^(\d+)([FC])(-?\d+)$/.exec(f);
      const st = m === null ? undefined : bySid.get(Number(m[1]));
      if (st === undefined || m === null) return;
      const c = Number(m[3]);
      const v = values[i] ?? null;
      if (m[2] === 'C') {
        if (!st.chunks.has(c * 3 + COARSE)) setChunk(st, c * 3 + COARSE, v);
        return;
      }
      if (!st.chunks.has(c * 3 + FINE)) setChunk(st, c * 3 + FINE, v === null ? null : Buffer.from(v.subarray(0, fineBytes)));
      if (!st.chunks.has(c * 3 + OVER)) setChunk(st, c * 3 + OVER, v === null || v.length <= fineBytes ? null : Buffer.from(v.subarray(fineBytes)));
    });
  }

  /** The series, created (with the next id) when new. */
  seriesOf(field: string): SeriesState {
    let s = this.series.get(field);
    if (s === undefined) {
      s = newSeries(++this.nextSid, field);
      this.#growHeads(this.nextSid);
      this.series.set(field, s);
      this.newIndex.set(field, String(s.sid));
    }
    return s;
  }

  /** Merge one series' tick delta. */
  apply(field: string, a: BucketArena, sr: SeriesRef, shape: RingShape): void {
    const s = this.seriesOf(field);
    const data = a.data;
    s.counter = data[sr + S_COUNTER] === 1;
    const ro = (s.sid - 1) * HEAD_NUMBERS + RECEIVED;
    if (data[sr + S_RECEIVED]! > this.#heads[ro]!) this.#heads[ro] = data[sr + S_RECEIVED]!;
    const fine = sr + ringAt('fine');
    const fines = inOrder(a, sr, 'fine');
    for (let i = 0, n = data[fine + S_COUNT]!; i < n; i++) this.#fine(s, data, nth(data, fine, fines, i), shape);
    const coarse = sr + ringAt('coarse');
    const coarses = inOrder(a, sr, 'coarse');
    for (let i = 0, n = data[coarse + S_COUNT]!; i < n; i++) this.#coarse(s, data, nth(data, coarse, coarses, i), shape);
    if (!s.inTouched) {
      s.inTouched = true;
      this.touched.push(s);
    }
    if (!s.inLive) {
      s.inLive = true;
      this.live.push(s);
    }
  }

  /**
   * The fine head bucket of every series written since the last call (of those `wanted`, when
   * given), as live updates (fields[i]: the series of out[i]). Built when the broadcaster asks, not per write: an object per series per
   * tick, held until the next flush, outlived young-generation GC and was a leading cost (profiled).
   */
  takeLive(stepMs: number, out: BucketUpdate[], fields: string[], wanted?: (metric: string, source: string) => boolean): void {
    for (const s of this.live) {
      s.inLive = false;
      const h = this.#heads;
      const o = (s.sid - 1) * HEAD_NUMBERS + FINE_HEAD;
      if (s.fh === undefined || h[o + H_COUNT] === 0 || (wanted !== undefined && !wanted(s.metric, this.source))) continue;
      const start = s.fh * stepMs;
      out.push({ metric: s.metric, source: this.source, tags: s.tags, start, count: h[o + H_COUNT]!, sum: h[o + H_SUM]!, min: h[o + H_MIN]!, max: h[o + H_MAX]!, last: h[o + H_LAST]!, lastTs: start + h[o + H_OFF]!, receivedAt: h[(s.sid - 1) * HEAD_NUMBERS + RECEIVED]! });
      fields.push(s.field);
    }
    this.live.length = 0;
  }

  /** Chunk c of a kind, to modify (zero-filled when absent). */
  #chunk(s: SeriesState, c: number, kind: number, bytes: number): Buffer {
    const k = c * 3 + kind;
    let b = s.chunks.get(k);
    if (b === undefined || b === null) {
      // From Node's shared pool, not an ArrayBuffer each: thousands of small chunks otherwise
      // dominate garbage collection.
      b = Buffer.allocUnsafe(bytes).fill(0);
      setChunk(s, k, b);
    }
    if (!s.dirty.includes(k)) s.dirty.push(k);
    return b;
  }

  /** Chunks alive under head h that are wholly out of the ring under head b (b > h). */
  #dropDead(s: SeriesState, h: number, b: number, n: number, kinds: readonly number[], shape: RingShape): void {
    const last = Math.min(Math.floor(h / shape.ch), Math.floor((b - n - shape.ch + 1) / shape.ch));
    for (let c = Math.floor((h - n + 1) / shape.ch); c <= last; c++) {
      for (const kind of kinds) {
        const k = c * 3 + kind;
        setChunk(s, k, null);
        const at = s.dirty.indexOf(k);
        if (at >= 0) s.dirty.splice(at, 1);
        if (kind !== OVER) this.dels.push(`${s.sid}${KIND[kind]}${c}`); // the overflow goes with its fine field
      }
    }
  }

  /** Merge record r of d (a fine bucket delta). */
  #fine(s: SeriesState, d: Float64Array, r: number, shape: RingShape): void {
    const b = d[r]!;
    if (s.fh === undefined || b > s.fh) {
      const c = Math.floor(b / shape.ch);
      if (s.fh !== undefined) {
        // The head moves on: its bucket goes into its chunk (its slot there is empty).
        const hc = Math.floor(s.fh / shape.ch);
        const h = this.#heads;
        const o = (s.sid - 1) * HEAD_NUMBERS + FINE_HEAD;
        this.#fineInto(s, hc, s.fh - hc * shape.ch, h[o + H_COUNT]!, h[o + H_SUM]!, h[o + H_MIN]!, h[o + H_MAX]!, h[o + H_LAST]!, h[o + H_OFF]!, shape);
        this.#dropDead(s, s.fh, b, shape.fineN, FINE_KINDS, shape);
      }
      // A chunk past everything written so far: nothing of it (or its overflow) is in Redis.
      if (s.fh === undefined || c > Math.floor(s.fh / shape.ch)) {
        if (!s.chunks.has(c * 3 + FINE)) setChunk(s, c * 3 + FINE, null);
        if (!s.chunks.has(c * 3 + OVER)) setChunk(s, c * 3 + OVER, null);
      }
      s.fh = b;
      startHead(this.#heads, (s.sid - 1) * HEAD_NUMBERS + FINE_HEAD, d, r);
    } else if (b === s.fh) addToHead(this.#heads, (s.sid - 1) * HEAD_NUMBERS + FINE_HEAD, d, r);
    else if (b > s.fh - shape.fineN) {
      // A late sample for an older fine bucket.
      const c = Math.floor(b / shape.ch);
      this.#fineInto(s, c, b - c * shape.ch, d[r + COUNT]!, d[r + SUM]!, d[r + MIN]!, d[r + MAX]!, d[r + LAST]!, d[r + OFF]!, shape);
    }
    // else older than the fine ring: the coarse ring takes it
  }

  /** Add a bucket's worth (count, sum, min, max, last at offset) into slot `at` of fine chunk c. */
  #fineInto(s: SeriesState, c: number, at: number, count: number, sum: number, min: number, max: number, last: number, off: number, shape: RingShape): void {
    const F = this.#chunk(s, c, FINE, shape.ch * FS);
    const tag = F.readUInt16LE(at * FS);
    const lastv = F.readDoubleLE(at * FS + 2);
    if (tag === 0 && count === 1) {
      F.writeUInt16LE(off + 1, at * FS);
      F.writeDoubleLE(last, at * FS + 2);
      return;
    }
    const X = this.#chunk(s, c, OVER, shape.ch * XS);
    const xo = at * XS;
    if (tag === MULTI) {
      const xc = X.readUInt32LE(xo);
      const xoff = X.readUInt16LE(xo + 28);
      count += xc;
      sum = X.readDoubleLE(xo + 4) + sum;
      min = Math.min(X.readDoubleLE(xo + 12), min);
      max = Math.max(X.readDoubleLE(xo + 20), max);
      if (off < xoff) {
        last = lastv;
        off = xoff;
      }
    } else if (tag !== 0) {
      const prevOff = tag - 1;
      count += 1;
      sum += lastv;
      if (lastv < min) min = lastv;
      if (lastv > max) max = lastv;
      if (off < prevOff) {
        last = lastv;
        off = prevOff;
      }
    }
    X.writeUInt32LE(count, xo);
    X.writeDoubleLE(sum, xo + 4);
    X.writeDoubleLE(min, xo + 12);
    X.writeDoubleLE(max, xo + 20);
    X.writeUInt16LE(off, xo + 28);
    F.writeUInt16LE(MULTI, at * FS);
    F.writeDoubleLE(last, at * FS + 2);
  }

  /** Merge record r of d (a coarse bucket delta). */
  #coarse(s: SeriesState, d: Float64Array, r: number, shape: RingShape): void {
    const b = d[r]!;
    if (s.ch === undefined || b > s.ch) {
      if (s.ch !== undefined) {
        // The head moves on: its bucket goes into its chunk (its slot there is empty).
        const c = Math.floor(s.ch / shape.ch);
        const h = this.#heads;
        const o = (s.sid - 1) * HEAD_NUMBERS + COARSE_HEAD;
        writeCoarse(this.#chunk(s, c, COARSE, shape.ch * CS), (s.ch - c * shape.ch) * CS, h[o + H_COUNT]!, h[o + H_SUM]!, h[o + H_MIN]!, h[o + H_MAX]!, h[o + H_LAST]!, h[o + H_OFF]!);
        this.#dropDead(s, s.ch, b, shape.coarseN, COARSE_KINDS, shape);
      }
      // A chunk past everything written so far: nothing of it is in Redis (no read when the head leaves it).
      const c = Math.floor(b / shape.ch);
      if ((s.ch === undefined || c > Math.floor(s.ch / shape.ch)) && !s.chunks.has(c * 3 + COARSE)) setChunk(s, c * 3 + COARSE, null);
      s.ch = b;
      startHead(this.#heads, (s.sid - 1) * HEAD_NUMBERS + COARSE_HEAD, d, r);
    } else if (b === s.ch) addToHead(this.#heads, (s.sid - 1) * HEAD_NUMBERS + COARSE_HEAD, d, r);
    else if (b > s.ch - shape.coarseN) {
      // A late sample for an older coarse bucket.
      const c = Math.floor(b / shape.ch);
      const C = this.#chunk(s, c, COARSE, shape.ch * CS);
      const o = (b - c * shape.ch) * CS;
      const h = readBucket(C, o, SCRATCH, 0);
      if (h[H_COUNT] === 0) startHead(h, 0, d, r);
      else addToHead(h, 0, d, r);
      writeCoarse(C, o, h[H_COUNT]!, h[H_SUM]!, h[H_MIN]!, h[H_MAX]!, h[H_LAST]!, h[H_OFF]!);
    }
  }

  /**
   * `HB`: per series (slot sid-1, HEAD_SLOT_BYTES) its heads and head buckets. Kept between
   * flushes and rewritten only for the series touched since the last one (call before trim()):
   * rebuilding every slot of a source each tick was a leading cost of the write path (profiled).
   * The returned bytes are this partial's own: copy them before the next apply.
   */
  heads(): Buffer {
    const len = this.nextSid * HEAD_SLOT_BYTES;
    // New series: their slots start zeroed (no heads) until written below.
    if (this.#H.length < len) this.#setHeads(grown(this.#H, len));
    for (const s of this.touched) this.#slot(s);
    return this.#H.subarray(0, len);
  }

  /** Room in #heads for series up to `sids` (doubling, zero-filled). */
  #growHeads(sids: number): void {
    const need = sids * HEAD_NUMBERS;
    if (this.#heads.length >= need) return;
    const h = new Float64Array(Math.max(need, 2 * this.#heads.length));
    h.set(this.#heads);
    this.#heads = h;
  }

  #setHeads(H: Buffer): void {
    this.#H = H;
    this.#HV = new DataView(H.buffer, H.byteOffset, H.length);
  }

  /**
   * Write series s's slot of `HB` from its state (zeros when it has no heads yet), through a
   * DataView: Buffer's write methods cost several times more on this path (profiled).
   */
  #slot(s: SeriesState): void {
    const o = (s.sid - 1) * HEAD_SLOT_BYTES;
    if (s.fh === undefined || s.ch === undefined) {
      this.#H.fill(0, o, o + HEAD_SLOT_BYTES);
      return;
    }
    const v = this.#HV;
    v.setFloat64(o, s.fh, true);
    v.setFloat64(o + 8, s.ch, true);
    v.setUint8(o + 16, 1 + (s.counter ? 2 : 0));
    const h = (s.sid - 1) * HEAD_NUMBERS;
    putBucket(v, o + 17, this.#heads, h + COARSE_HEAD);
    putBucket(v, o + 55, this.#heads, h + FINE_HEAD);
  }

  /** Rebuild series states from `HB` and the index fields (a reload after eviction). */
  loadHeads(H: Buffer | null, index: Map<string, number>): void {
    for (const sid of index.values()) if (sid > this.nextSid) this.nextSid = sid;
    this.#growHeads(this.nextSid);
    for (const [field, sid] of index) {
      const o = (sid - 1) * HEAD_SLOT_BYTES;
      const s = newSeries(sid, field);
      if (H !== null && H.length >= o + HEAD_SLOT_BYTES && (H.readUInt8(o + 16) & 1) === 1) {
        s.fh = H.readDoubleLE(o);
        s.ch = H.readDoubleLE(o + 8);
        s.counter = (H.readUInt8(o + 16) & 2) === 2;
        readBucket(H, o + 17, this.#heads, (sid - 1) * HEAD_NUMBERS + COARSE_HEAD);
        readBucket(H, o + 55, this.#heads, (sid - 1) * HEAD_NUMBERS + FINE_HEAD);
      }
      this.series.set(field, s);
    }
    // `HB` as the loaded series give it (slots of anything else zeroed), as heads() would build it.
    this.#setHeads(Buffer.alloc(this.nextSid * HEAD_SLOT_BYTES));
    for (const s of this.series.values()) this.#slot(s);
  }

  /**
   * The data fields to write for the series touched since the last flush (then clears that): the
   * chunks that changed (the heads travel in `HB`), a fine chunk with its overflow when it has one.
   */
  takeWrites(): ReadonlyArray<string | Buffer> {
    let out: Array<string | Buffer> | undefined;
    for (const s of this.touched) {
      for (const k of s.dirty) {
        const kind = k % 3;
        const c = (k - kind) / 3;
        if (kind === COARSE) {
          const C = s.chunks.get(k);
          if (C) (out ??= []).push(`${s.sid}C${c}`, C);
          continue;
        }
        // A fine chunk once, whether it or its overflow (or both) changed.
        if (kind === OVER && s.dirty.includes(c * 3 + FINE)) continue;
        const F = s.chunks.get(c * 3 + FINE);
        const X = s.chunks.get(c * 3 + OVER);
        if (F) (out ??= []).push(`${s.sid}F${c}`, X ? Buffer.concat([F, X]) : F);
      }
      if (s.dirty.length > 0) s.dirty.length = 0;
    }
    // Most ticks of a source write no chunk: no array for them.
    return out ?? NO_WRITES;
  }

  /**
   * After a flush: forget chunks later writes are unlikely to touch (they reload on demand) —
   * unless chunk reads are in flight (`loading`): such a read may predate this flush's write of
   * a chunk, and loaded() can keep the newer bytes only while memory still has them.
   */
  trim(shape: RingShape): void {
    for (const s of this.loading > 0 ? NO_SERIES : this.touched) {
      // Keep the fine head chunk and the one before it, and the coarse head's chunk. A series with
      // no chunk entry set since its last trim has nothing new to drop (a head moving into a new
      // chunk and a chunk read both set entries), and is not even looked into: most series of a
      // tick, and their maps are cold in the CPU's caches (this loop was ~3% of a worker; profiled).
      if (!s.grown) continue;
      s.grown = false;
      if (s.chunks.size <= 5 || s.fh === undefined) continue;
      const hc = Math.floor(s.fh / shape.ch);
      const cc = s.ch === undefined ? NaN : Math.floor(s.ch / shape.ch);
      for (const k of s.chunks.keys()) {
        const c = Math.floor(k / 3);
        const kind = k % 3;
        if (kind === COARSE ? c !== cc : c !== hc && c !== hc - 1) s.chunks.delete(k);
      }
    }
    for (const s of this.touched) s.inTouched = false;
    this.touched.length = 0;
    this.dels.length = 0;
    if (this.newIndex.size > 0) this.newIndex.clear(); // clear() allocates a new table
  }
}

/**
 * A zeroed copy of `b` with room for at least `len` bytes, doubling: a source whose series appear
 * one tick at a time would otherwise copy its whole `HB` once per new series.
 */
function grown(b: Buffer, len: number): Buffer {
  const out = Buffer.alloc(Math.max(len, 2 * b.length));
  b.copy(out);
  return out;
}

function newSeries(sid: number, field: string): SeriesState {
  const at = field.indexOf('\u0000');
  return { sid, field, metric: field.slice(0, at), tags: field.slice(at + 1), chunks: new Map(), grown: false, dirty: [], inTouched: false, inLive: false, counter: false, fh: undefined, ch: undefined };
}

/** A bucket as writeCoarse() lays it out (count, sum, min, max, last, offset of last) into h[ho…]; returns h. */
function readBucket(buf: Buffer, o: number, h: Float64Array, ho: number): Float64Array {
  h[ho + H_COUNT] = buf.readUInt32LE(o);
  h[ho + H_SUM] = buf.readDoubleLE(o + 4);
  h[ho + H_MIN] = buf.readDoubleLE(o + 12);
  h[ho + H_MAX] = buf.readDoubleLE(o + 20);
  h[ho + H_LAST] = buf.readDoubleLE(o + 28);
  h[ho + H_OFF] = buf.readUInt16LE(o + 36);
  return h;
}

/** One bucket's numbers, for a late sample's coarse bucket read from its chunk. */
const SCRATCH = new Float64Array(6);

const NONE: readonly string[] = [];
const NO_WRITES: ReadonlyArray<string | Buffer> = [];
const NO_SERIES: readonly SeriesState[] = [];

/** Set a chunk entry of s (marking it for the next trim()). */
function setChunk(s: SeriesState, k: number, v: Buffer | null): void {
  s.chunks.set(k, v);
  s.grown = true;
}

/** `out` plus chunk c of a kind when it is not in memory (the field to read for it). */
function need(s: SeriesState, c: number, kind: number, out: string[] | undefined): string[] | undefined {
  if (s.chunks.has(c * 3 + kind)) return out;
  (out ??= []).push(`${s.sid}${KIND[kind]}${c}`);
  return out;
}
const FINE_KINDS = [FINE, OVER] as const;
const COARSE_KINDS = [COARSE] as const;
/**
 * The records of a ring of a series delta in ascending bucket order — or ONE when it has just one
 * (the usual case: then it is the ring's first record, and no array is built per series per tick).
 */
const ONE: readonly number[] = [];
const inOrder = (a: BucketArena, sr: SeriesRef, ring: Ring): readonly number[] => (a.data[sr + ringAt(ring) + S_COUNT] === 1 ? ONE : orderedRecords(a, sr, ring));
/** Record i of a ring (its list at d[list]) in ascending bucket order, given inOrder()'s answer for it. */
const nth = (d: Float64Array, list: number, sorted: readonly number[], i: number): number => (sorted === ONE ? d[list]! : sorted[i]!);

/** The head bucket at h[ho…] into `HB`, laid out as writeCoarse() does, through a DataView. */
function putBucket(v: DataView, o: number, h: Float64Array, ho: number): void {
  v.setUint32(o, h[ho + H_COUNT]!, true);
  v.setFloat64(o + 4, h[ho + H_SUM]!, true);
  v.setFloat64(o + 12, h[ho + H_MIN]!, true);
  v.setFloat64(o + 20, h[ho + H_MAX]!, true);
  v.setFloat64(o + 28, h[ho + H_LAST]!, true);
  v.setUint16(o + 36, h[ho + H_OFF]!, true);
}

function writeCoarse(buf: Buffer, o: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  buf.writeUInt32LE(count, o);
  buf.writeDoubleLE(sum, o + 4);
  buf.writeDoubleLE(min, o + 12);
  buf.writeDoubleLE(max, o + 20);
  buf.writeDoubleLE(last, o + 28);
  buf.writeUInt16LE(off, o + 36);
}

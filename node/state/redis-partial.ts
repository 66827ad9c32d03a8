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
 * The worker keeps only what it may write again soon — heads, the coarse head bucket, and the
 * chunks it wrote most recently — and reads its own partial back from Redis for anything else
 * (a late sample, an evicted source). Ring semantics are those of the memory rings (rings.ts).
 */
import type { BucketDelta, SeriesDelta } from '../aggregate/delta.js';
import type { BucketUpdate } from './store.js';

/** Bytes per slot: fine chunk, fine overflow chunk, coarse chunk, and per series in `H`. */
export const FS = 10;
export const XS = 30;
export const CS = 38;
/** Bytes per series in `H`: heads and coarse head bucket (55), head fine chunk index (8), its bytes. */
export const headSlotBytes = (ch: number): number => 63 + ch * FS;
const MULTI = 0xffff;

export interface RingShape {
  fineN: number;
  coarseN: number;
  /** Buckets per chunk. */
  ch: number;
}

/** A chunk of a series: key c·3 + kind (0 fine, 1 fine overflow, 2 coarse) → bytes, or null when absent in Redis. */
const FINE = 0;
const OVER = 1;
const COARSE = 2;
const KIND = ['F', 'X', 'C'] as const;

export interface SeriesState {
  sid: number;
  /** Chunks in memory, by c·3 + kind. */
  chunks: Map<number, Buffer | null>;
  /** Chunk keys changed since the last flush. */
  dirty: Set<number>;
  counter: boolean;
  fh: number | undefined;
  ch: number | undefined;
  /** The coarse head bucket: count, sum, min, max, last, offset of last. */
  cc: number;
  cs: number;
  cmn: number;
  cmx: number;
  cl: number;
  co: number;
  /** The chunk whose overflow is in this series' `HX` slot as last built (undefined: none yet). */
  hxc: number | undefined;
}

/** `H` of a partial with no series yet (never written to: heads() replaces it when it grows). */
const NO_HEADS = Buffer.alloc(0);

export class PartialSource {
  /** Receive-time liveness of this writer's view of the source (memory: touchSource). */
  ls: number | undefined;
  iv = 0;
  nextSid = 0;
  readonly series = new Map<string, SeriesState>();
  /** Series written since the last flush. */
  readonly touched = new Set<SeriesState>();
  /** Chunk fields to delete (fell out of a ring). */
  readonly dels: string[] = [];
  /** Series index fields (`<metric>NUL<tags>` → sid) new since the last flush. */
  readonly newIndex = new Map<string, string>();
  /** Minute of the last TTL refresh. */
  ttlMinute = -1;
  lastUsed = 0;
  /** Chunk reads (missing → loaded) in flight. */
  loading = 0;
  /** This writer's keys of the source for fp_put (writer set, info, data), built once. */
  putKeys: readonly [string, string, string] | undefined;
  /** `H` as of the last heads() (see there). */
  #H: Buffer = NO_HEADS;
  /** `HX` as of the last overflowHeads() (see there). */
  #HX: Buffer = NO_HEADS;

  /** The chunk fields a delta needs that are not in memory (read them, then loaded(), before apply()). */
  missing(field: string, d: SeriesDelta, shape: RingShape): readonly string[] {
    const s = this.series.get(field);
    if (s === undefined || s.fh === undefined) return NONE; // a new series: nothing of it exists
    let out: string[] | undefined;
    const headChunk = Math.floor(s.fh / shape.ch);
    for (const x of d.fine) {
      const c = Math.floor(x.b / shape.ch);
      if (c > headChunk || x.b <= s.fh - shape.fineN) continue; // beyond anything written, or dropped
      if (c < headChunk) out = need(s, c, FINE, out); // the head chunk is always in memory (it travels in H)
      out = need(s, c, OVER, out);
    }
    if (s.ch !== undefined) {
      let ch = s.ch;
      for (const x of inOrder(d.coarse)) {
        // Moving the head writes the old head bucket into its chunk; a late sample writes one.
        if (x.b > ch) {
          out = need(s, Math.floor(ch / shape.ch), COARSE, out);
          ch = x.b;
        } else if (x.b < ch && x.b > ch - shape.coarseN) out = need(s, Math.floor(x.b / shape.ch), COARSE, out);
      }
    }
    return out === undefined ? NONE : [...new Set(out)];
  }

  /**
   * Chunks read from Redis for missing(): `<sid><kind><c>` → bytes or null. A chunk already in
   * memory is kept: memory is never behind Redis, and a tick may have written to the chunk while
   * another tick's read of it was in flight (that read may predate the write).
   */
  loaded(fields: readonly string[], values: ReadonlyArray<Buffer | null>): void {
    const bySid = new Map<number, SeriesState>();
    for (const st of this.series.values()) bySid.set(st.sid, st);
    fields.forEach((f, i) => {
      const m = /^(\d+)([FXC])(-?\d+)$/.exec(f);
      const st = m === null ? undefined : bySid.get(Number(m[1]));
      if (st === undefined || m === null) return;
      const k = Number(m[3]) * 3 + KIND.indexOf(m[2] as 'F' | 'X' | 'C');
      if (!st.chunks.has(k)) st.chunks.set(k, values[i] ?? null);
    });
  }

  /** The series, created (with the next id) when new. */
  seriesOf(field: string): SeriesState {
    let s = this.series.get(field);
    if (s === undefined) {
      s = newSeries(++this.nextSid);
      this.series.set(field, s);
      this.newIndex.set(field, String(s.sid));
    }
    return s;
  }

  /**
   * Merge one series' tick delta of `source`. Returns its fine head bucket afterwards as the live
   * update the broadcaster shows (undefined when that bucket is empty), built here at once rather
   * than through an intermediate head object: one object per series written, not four.
   */
  apply(source: string, field: string, d: SeriesDelta, shape: RingShape, stepMs: number): BucketUpdate | undefined {
    const s = this.seriesOf(field);
    s.counter = d.counter;
    for (const x of inOrder(d.fine)) this.#fine(s, x, shape);
    for (const x of inOrder(d.coarse)) this.#coarse(s, x, shape);
    this.touched.add(s);
    return this.#head(s, shape, source, d, stepMs);
  }

  /** Chunk c of a kind, to modify (zero-filled when absent). */
  #chunk(s: SeriesState, c: number, kind: number, bytes: number): Buffer {
    const k = c * 3 + kind;
    let b = s.chunks.get(k);
    if (b === undefined || b === null) {
      // From Node's shared pool, not an ArrayBuffer each: thousands of small chunks otherwise
      // dominate garbage collection.
      b = Buffer.allocUnsafe(bytes).fill(0);
      s.chunks.set(k, b);
    }
    s.dirty.add(k);
    return b;
  }

  /** Chunks alive under head h that are wholly out of the ring under head b (b > h). */
  #dropDead(s: SeriesState, h: number, b: number, n: number, kinds: readonly number[], shape: RingShape): void {
    const last = Math.min(Math.floor(h / shape.ch), Math.floor((b - n - shape.ch + 1) / shape.ch));
    for (let c = Math.floor((h - n + 1) / shape.ch); c <= last; c++) {
      for (const kind of kinds) {
        const k = c * 3 + kind;
        s.chunks.set(k, null);
        s.dirty.delete(k);
        this.dels.push(`${s.sid}${KIND[kind]}${c}`);
      }
    }
  }

  #fine(s: SeriesState, d: BucketDelta, shape: RingShape): void {
    const b = d.b;
    const c = Math.floor(b / shape.ch);
    if (s.fh === undefined || b > s.fh) {
      if (s.fh !== undefined) {
        // The head chunk lives in H; when the head leaves it, it becomes a field of its own.
        const hc = Math.floor(s.fh / shape.ch);
        if (c > hc && s.chunks.get(hc * 3 + FINE)) s.dirty.add(hc * 3 + FINE);
        if (c > hc && s.chunks.get(hc * 3 + OVER)) s.dirty.add(hc * 3 + OVER); // its overflow, from HX alike
        this.#dropDead(s, s.fh, b, shape.fineN, FINE_KINDS, shape);
      }
      // A chunk past everything written so far: nothing of it (or its overflow) is in Redis.
      if (s.fh === undefined || c > Math.floor(s.fh / shape.ch)) {
        if (!s.chunks.has(c * 3 + FINE)) s.chunks.set(c * 3 + FINE, null);
        if (!s.chunks.has(c * 3 + OVER)) s.chunks.set(c * 3 + OVER, null);
      }
      s.fh = b;
    } else if (b <= s.fh - shape.fineN) return; // older than the fine ring: the coarse ring takes it
    const at = b - c * shape.ch;
    const F = this.#chunk(s, c, FINE, shape.ch * FS);
    const tag = F.readUInt16LE(at * FS);
    const lastv = F.readDoubleLE(at * FS + 2);
    let { count, sum, min, max, last, off } = d;
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

  #coarse(s: SeriesState, d: BucketDelta, shape: RingShape): void {
    const b = d.b;
    if (s.ch === undefined || b > s.ch) {
      if (s.ch !== undefined) {
        // The head moves on: its bucket goes into its chunk (its slot there is empty).
        const c = Math.floor(s.ch / shape.ch);
        writeCoarse(this.#chunk(s, c, COARSE, shape.ch * CS), (s.ch - c * shape.ch) * CS, s.cc, s.cs, s.cmn, s.cmx, s.cl, s.co);
        this.#dropDead(s, s.ch, b, shape.coarseN, COARSE_KINDS, shape);
      }
      s.ch = b;
      s.cc = d.count;
      s.cs = d.sum;
      s.cmn = d.min;
      s.cmx = d.max;
      s.cl = d.last;
      s.co = d.off;
    } else if (b === s.ch) {
      s.cc += d.count;
      s.cs += d.sum;
      if (d.min < s.cmn) s.cmn = d.min;
      if (d.max > s.cmx) s.cmx = d.max;
      if (d.off >= s.co) {
        s.cl = d.last;
        s.co = d.off;
      }
    } else if (b > s.ch - shape.coarseN) {
      // A late sample for an older coarse bucket.
      const c = Math.floor(b / shape.ch);
      const C = this.#chunk(s, c, COARSE, shape.ch * CS);
      const o = (b - c * shape.ch) * CS;
      const oc = C.readUInt32LE(o);
      if (oc === 0) writeCoarse(C, o, d.count, d.sum, d.min, d.max, d.last, d.off);
      else {
        const oo = C.readUInt16LE(o + 36);
        const later = d.off >= oo;
        writeCoarse(C, o, oc + d.count, C.readDoubleLE(o + 4) + d.sum, Math.min(C.readDoubleLE(o + 12), d.min), Math.max(C.readDoubleLE(o + 20), d.max),
          later ? d.last : C.readDoubleLE(o + 28), later ? d.off : oo);
      }
    }
  }

  #head(s: SeriesState, shape: RingShape, source: string, d: SeriesDelta, stepMs: number): BucketUpdate | undefined {
    const b = s.fh!;
    const c = Math.floor(b / shape.ch);
    const at = b - c * shape.ch;
    const F = s.chunks.get(c * 3 + FINE);
    if (F === undefined || F === null) return undefined;
    const tag = F.readUInt16LE(at * FS);
    const last = F.readDoubleLE(at * FS + 2);
    if (tag === 0) return undefined;
    const start = b * stepMs;
    if (tag !== MULTI) return liveUpdate(source, d, start, 1, last, last, last, last, start + tag - 1);
    const X = s.chunks.get(c * 3 + OVER);
    if (X === undefined || X === null) return undefined;
    const xo = at * XS;
    const count = X.readUInt32LE(xo);
    if (count === 0) return undefined;
    return liveUpdate(source, d, start, count, X.readDoubleLE(xo + 4), X.readDoubleLE(xo + 12), X.readDoubleLE(xo + 20), last, start + X.readUInt16LE(xo + 28));
  }

  /**
   * `H`: per series (slot sid-1) its heads, coarse head bucket, and head fine chunk. Kept between
   * flushes and rewritten only for the series touched since the last one (call before trim()):
   * rebuilding every slot of a source each tick was a leading cost of the write path (profiled).
   * The returned bytes are this partial's own: copy them before the next apply.
   */
  heads(shape: RingShape): Buffer {
    const hs = headSlotBytes(shape.ch);
    const len = this.nextSid * hs;
    // New series: their slots start zeroed (no heads) until written below.
    if (this.#H.length < len) this.#H = grown(this.#H, len);
    for (const s of this.touched) this.#slot(s, shape, hs);
    return this.#H.subarray(0, len);
  }

  /** Write series s's slot of `H` from its state (zeros when it has no heads yet). */
  #slot(s: SeriesState, shape: RingShape, hs: number): void {
    const H = this.#H;
    const o = (s.sid - 1) * hs;
    if (s.fh === undefined || s.ch === undefined) {
      H.fill(0, o, o + hs);
      return;
    }
    H.writeDoubleLE(s.fh, o);
    H.writeDoubleLE(s.ch, o + 8);
    H.writeUInt8(1 + (s.counter ? 2 : 0), o + 16);
    writeCoarse(H, o + 17, s.cc, s.cs, s.cmn, s.cmx, s.cl, s.co);
    const hc = Math.floor(s.fh / shape.ch);
    H.writeDoubleLE(hc, o + 55);
    const F = s.chunks.get(hc * 3 + FINE);
    if (F) F.copy(H, o + 63);
    else H.fill(0, o + 63, o + hs);
  }

  /**
   * `HX`: per series (slot sid-1, CH × 30 bytes) the overflow chunk of its head fine chunk, or
   * zeros. Every sample of a bucket that already has one rewrites that chunk, so it travels in one
   * field per source like `H` rather than one field per series (half of Redis' CPU per sample when
   * several samples of a series share a bucket; measured). Undefined when no slot changed since
   * the last flush: then `HX` is not written. Call before takeWrites() and trim().
   */
  overflowHeads(shape: RingShape): Buffer | undefined {
    const xs = shape.ch * XS;
    const len = this.nextSid * xs;
    let changed = false;
    if (this.#HX.length < len) this.#HX = grown(this.#HX, len);
    for (const s of this.touched) {
      if (s.fh === undefined) continue;
      const hc = Math.floor(s.fh / shape.ch);
      if (s.hxc === hc && !s.dirty.has(hc * 3 + OVER)) continue;
      const o = (s.sid - 1) * xs;
      const X = s.chunks.get(hc * 3 + OVER);
      if (X) X.copy(this.#HX, o);
      else this.#HX.fill(0, o, o + xs);
      s.hxc = hc;
      changed = true;
    }
    return changed ? this.#HX.subarray(0, len) : undefined;
  }

  /** Rebuild series states from `H`, `HX` and the index fields (a reload after eviction). */
  loadHeads(H: Buffer | null, HX: Buffer | null, index: Map<string, number>, shape: RingShape): void {
    const hs = headSlotBytes(shape.ch);
    for (const [field, sid] of index) {
      if (sid > this.nextSid) this.nextSid = sid;
      const o = (sid - 1) * hs;
      const s = newSeries(sid);
      if (H !== null && H.length >= o + hs && (H.readUInt8(o + 16) & 1) === 1) {
        s.fh = H.readDoubleLE(o);
        s.ch = H.readDoubleLE(o + 8);
        s.counter = (H.readUInt8(o + 16) & 2) === 2;
        s.cc = H.readUInt32LE(o + 17);
        s.cs = H.readDoubleLE(o + 21);
        s.cmn = H.readDoubleLE(o + 29);
        s.cmx = H.readDoubleLE(o + 37);
        s.cl = H.readDoubleLE(o + 45);
        s.co = H.readUInt16LE(o + 53);
        const F = Buffer.allocUnsafe(hs - 63);
        H.copy(F, 0, o + 63, o + hs);
        const hc = H.readDoubleLE(o + 55);
        s.chunks.set(hc * 3 + FINE, F);
        s.chunks.set(hc * 3 + OVER, overflowOf(HX, sid, shape));
        s.hxc = hc;
      }
      this.series.set(field, s);
    }
    // `H` and `HX` as the loaded series give them (slots of anything else zeroed), as heads() and
    // overflowHeads() would build them.
    this.#H = Buffer.alloc(this.nextSid * hs);
    this.#HX = Buffer.alloc(this.nextSid * shape.ch * XS);
    for (const s of this.series.values()) {
      this.#slot(s, shape, hs);
      const X = s.fh === undefined ? null : s.chunks.get(Math.floor(s.fh / shape.ch) * 3 + OVER);
      if (X) X.copy(this.#HX, (s.sid - 1) * shape.ch * XS);
    }
  }

  /**
   * The data fields to write for the series touched since the last flush (then clears that):
   * changed chunks other than a head fine chunk and its overflow, which travel in `H` and `HX`.
   */
  takeWrites(shape: RingShape): Array<string | Buffer> {
    const out: Array<string | Buffer> = [];
    for (const s of this.touched) {
      const head = s.fh === undefined ? NaN : Math.floor(s.fh / shape.ch) * 3 + FINE;
      for (const k of s.dirty) {
        if (k === head || k === head + OVER) continue;
        const b = s.chunks.get(k);
        if (b) out.push(`${s.sid}${KIND[k % 3]!}${Math.floor(k / 3)}`, b);
      }
      s.dirty.clear();
    }
    return out;
  }

  /**
   * After a flush: forget chunks later writes are unlikely to touch (they reload on demand) —
   * unless chunk reads are in flight (`loading`): such a read may predate this flush's write of
   * a chunk, and loaded() can keep the newer bytes only while memory still has them.
   */
  trim(shape: RingShape): void {
    for (const s of this.loading > 0 ? NO_SERIES : this.touched) {
      // Keep the fine head chunk and the one before it, and the coarse head's chunk.
      if (s.chunks.size <= 5 || s.fh === undefined) continue;
      const hc = Math.floor(s.fh / shape.ch);
      const cc = s.ch === undefined ? NaN : Math.floor(s.ch / shape.ch);
      for (const k of s.chunks.keys()) {
        const c = Math.floor(k / 3);
        const kind = k % 3;
        if (kind === COARSE ? c !== cc : c !== hc && c !== hc - 1) s.chunks.delete(k);
      }
    }
    this.touched.clear();
    this.dels.length = 0;
    this.newIndex.clear();
  }
}

/**
 * A zeroed copy of `b` with room for at least `len` bytes, doubling: a source whose series appear
 * one tick at a time would otherwise copy its whole H and HX once per new series.
 */
function grown(b: Buffer, len: number): Buffer {
  const out = Buffer.alloc(Math.max(len, 2 * b.length));
  b.copy(out);
  return out;
}

function newSeries(sid: number): SeriesState {
  return { sid, chunks: new Map(), dirty: new Set(), counter: false, fh: undefined, ch: undefined, cc: 0, cs: 0, cmn: 0, cmx: 0, cl: 0, co: 0, hxc: undefined };
}

/** Series sid's overflow chunk in `HX` (a copy), or null when HX lacks it or it is all zeros (no overflow). */
function overflowOf(HX: Buffer | null, sid: number, shape: RingShape): Buffer | null {
  const xs = shape.ch * XS;
  const o = (sid - 1) * xs;
  if (HX === null || HX.length < o + xs) return null;
  const slot = HX.subarray(o, o + xs);
  if (slot.every((b) => b === 0)) return null;
  return Buffer.from(slot);
}

const NONE: readonly string[] = [];
const NO_SERIES: ReadonlySet<SeriesState> = new Set();

/** `out` plus chunk c of a kind when it is not in memory (the field to read for it). */
function need(s: SeriesState, c: number, kind: number, out: string[] | undefined): string[] | undefined {
  if (s.chunks.has(c * 3 + kind)) return out;
  (out ??= []).push(`${s.sid}${KIND[kind]}${c}`);
  return out;
}
const FINE_KINDS = [FINE, OVER] as const;
const COARSE_KINDS = [COARSE] as const;
const byBucket = (a: BucketDelta, b: BucketDelta): number => a.b - b.b;
/** A delta's buckets in ascending order (copied only when there are several). */
const inOrder = (l: readonly BucketDelta[]): readonly BucketDelta[] => (l.length <= 1 ? l : [...l].sort(byBucket));

function liveUpdate(source: string, d: SeriesDelta, start: number, count: number, sum: number, min: number, max: number, last: number, lastTs: number): BucketUpdate {
  return { metric: d.metric, source, tags: d.tags, start, count, sum, min, max, last, lastTs, receivedAt: d.receivedAt };
}

function writeCoarse(buf: Buffer, o: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  buf.writeUInt32LE(count, o);
  buf.writeDoubleLE(sum, o + 4);
  buf.writeDoubleLE(min, o + 12);
  buf.writeDoubleLE(max, o + 20);
  buf.writeDoubleLE(last, o + 28);
  buf.writeUInt16LE(off, o + 36);
}

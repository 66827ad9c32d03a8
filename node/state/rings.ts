/**
 * Per-series ring buffers of buckets (DESIGN.md §6), stored in typed-array slabs of CHUNK series
 * each: no object per series or per sample, and RSS grows only with touched pages.
 *
 * Fine ring (1 s × 600 by default), compact for the common case of ≤ 1 sample per bucket:
 *   tag  Uint16  0 = empty, 1..65534 = one sample at offset tag-1 ms in the bucket, MULTI = see ext
 *   last Float64 the bucket's last value (by ts; ties go to the later arrival), or for MULTI the
 *                index of its overflow entry
 * A fine bucket that gets a second sample moves its count/sum/min/max/last/last offset into a
 * shared overflow pool (`ext`, one 40 B packed record an entry), freed when the slot is recycled.
 * 10 B per fine slot instead of 40. (The index lives in the slot itself: a Map from slot to entry
 * cost ~30 B more per entry, and rehashing it at millions of entries stalled the event loop for
 * 100+ ms.)
 *
 * Coarse ring (1 min × 360 by default): one 38 B split record per slot (count, sum/min/max/last, last
 * offset in units of ceil(coarseStep / 65535) ms).
 *
 * A bucket's fields sit together (records.ts), not in a column each: a write lands on a random
 * series, so each column was a cache miss of its own — six for a coarse bucket and six more for an
 * overflow entry, the largest share of a memory-mode worker's per-sample cost (profiled). Likewise a
 * series' two ring heads share one array.
 *
 * Invariant: slot (b mod N) of a series holds bucket b iff head − N < b ≤ head; older slots are
 * cleared when the head advances past them, so a read never sees a stale lap of the ring.
 */
import assert from 'node:assert/strict';
import type { RetentionConfig } from '../config/schema.js';
import { PackedRecords, SplitRecords } from './records.js';

const CHUNK_BITS = 8;
const CHUNK = 1 << CHUNK_BITS;
const MULTI = 0xffff;
const NO_HEAD = -1;
/** Index of a row's fine and coarse head in Chunk.heads. */
const FINE = 0;
const COARSE = 1;

interface Chunk {
  /** Per row: the fine ring's head bucket at 2·row, the coarse ring's at 2·row + 1 (NO_HEAD when empty). */
  heads: Float64Array;
  fineTag: Uint16Array;
  fineLast: Float64Array;
  coarse: SplitRecords;
}

/** The fine overflow pool is paged: entry e is record e & EXT_MASK of page e >>> EXT_BITS. */
const EXT_BITS = 14;
const EXT_PAGE = 1 << EXT_BITS;
const EXT_MASK = EXT_PAGE - 1;

/** Receives buckets in ascending time order. */
export type BucketVisitor = (startMs: number, count: number, sum: number, min: number, max: number, last: number, lastTs: number) => void;

export class RingStore {
  readonly fineStepMs: number;
  readonly coarseStepMs: number;
  readonly #fineN: number;
  readonly #coarseN: number;
  readonly #coarseOffUnit: number;
  readonly #chunks: Chunk[] = [];
  #nextId = 0;
  readonly #freeIds: number[] = [];
  // Overflow pool for fine buckets holding more than one sample.
  // Pages of EXT_PAGE entries: growing adds a page instead of copying the pool (a doubling copy
  // at millions of entries stalled the event loop for ~250 ms per column).
  readonly #ext: PackedRecords[] = [];
  #extNext = 0;
  readonly #extFree: number[] = [];

  constructor(r: RetentionConfig) {
    assert.ok(r.fineStepMs <= 65534, 'BUG: fineStepMs must fit the 16-bit offset tag');
    this.fineStepMs = r.fineStepMs;
    this.coarseStepMs = r.coarseStepMs;
    this.#fineN = r.fineSpanMs / r.fineStepMs;
    this.#coarseN = r.coarseSpanMs / r.coarseStepMs;
    this.#coarseOffUnit = Math.ceil(r.coarseStepMs / 65535);
  }

  /** A new, empty series id. */
  allocate(): number {
    const reused = this.#freeIds.pop();
    if (reused !== undefined) return reused;
    const id = this.#nextId++;
    if (id >> CHUNK_BITS === this.#chunks.length) this.#chunks.push(this.#newChunk());
    return id;
  }

  /** Forget a series; its id may be reused. */
  release(id: number): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    const fb = row * this.#fineN;
    for (let s = 0; s < this.#fineN; s++) this.#clearFine(c, fb, s);
    c.heads[2 * row + FINE] = NO_HEAD;
    c.heads[2 * row + COARSE] = NO_HEAD;
    for (let s = row * this.#coarseN; s < (row + 1) * this.#coarseN; s++) c.coarse.clear(s);
    this.#freeIds.push(id);
  }

  /** Add one sample to both rings of a series. */
  write(id: number, ts: number, value: number): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    const fb = Math.floor(ts / this.fineStepMs);
    this.#mergeFine(c, row, fb, ts - fb * this.fineStepMs, 1, value, value, value, value);
    const cb = Math.floor(ts / this.coarseStepMs);
    this.#mergeCoarse(c, row, cb, Math.floor((ts - cb * this.coarseStepMs) / this.#coarseOffUnit), 1, value, value, value, value);
  }

  /**
   * Fold a whole bucket (count/sum/min/max, and `last` at offset `off` ms into the bucket) into
   * fine bucket `b`; one sample is the case count = 1. Same field-wise semantics as merge.ts
   * mergeBucket: the later offset wins `last`, ties go to the incoming bucket (the later arrival).
   */
  #mergeFine(c: Chunk, row: number, b: number, off: number, count: number, sum: number, min: number, max: number, last: number): void {
    const n = this.#fineN;
    const base = row * n;
    const head = c.heads[2 * row + FINE]!;
    if (head === NO_HEAD || b > head) {
      // Advance the head, clearing every slot the ring laps over (at most n).
      const from = head === NO_HEAD ? b - n + 1 : Math.max(head + 1, b - n + 1);
      for (let bb = from; bb <= b; bb++) this.#clearFine(c, base, bb % n);
      c.heads[2 * row + FINE] = b;
    } else if (b <= head - n) {
      return; // older than the fine retention; the coarse ring still takes it
    }
    const s = b % n;
    const slot = base + s;
    const tag = c.fineTag[slot]!;
    if (tag === 0 && count === 1) {
      c.fineTag[slot] = off + 1;
      c.fineLast[slot] = last;
    } else if (tag === 0 || tag !== MULTI) {
      // Becomes (or is created as) a multi-sample bucket in the overflow pool: the sample already
      // there first, then the incoming bucket folded in (so it wins a tie for `last`).
      const e = this.#extAlloc();
      const p = this.#ext[e >>> EXT_BITS]!;
      const i = e & EXT_MASK;
      if (tag === 0) p.set(i, count, sum, min, max, last, off);
      else {
        const prev = c.fineLast[slot]!;
        p.set(i, 1, prev, prev, prev, prev, tag - 1);
        p.merge(i, count, sum, min, max, last, off);
      }
      c.fineLast[slot] = e; // a MULTI slot's float column holds its overflow index
      c.fineTag[slot] = MULTI;
    } else {
      const e = c.fineLast[slot]!;
      this.#ext[e >>> EXT_BITS]!.merge(e & EXT_MASK, count, sum, min, max, last, off);
    }
  }

  /** Coarse twin of #mergeFine; `off` is in units of #coarseOffUnit. */
  #mergeCoarse(c: Chunk, row: number, b: number, off: number, count: number, sum: number, min: number, max: number, last: number): void {
    const n = this.#coarseN;
    const base = row * n;
    const head = c.heads[2 * row + COARSE]!;
    if (head === NO_HEAD || b > head) {
      const from = head === NO_HEAD ? b - n + 1 : Math.max(head + 1, b - n + 1);
      for (let bb = from; bb <= b; bb++) c.coarse.clear(base + (bb % n));
      c.heads[2 * row + COARSE] = b;
    } else if (b <= head - n) {
      return;
    }
    const slot = base + (b % n);
    if (c.coarse.count(slot) === 0) c.coarse.set(slot, count, sum, min, max, last, off);
    else c.coarse.merge(slot, count, sum, min, max, last, off);
  }

  /**
   * One ring of a series as a flat Float64Array (for the scale-down handoff): per non-empty
   * bucket `start, count, lastTs, last`, followed by `sum, min, max` when count > 1.
   */
  exportRing(id: number, ring: 'fine' | 'coarse'): Float64Array {
    const out: number[] = [];
    this.visit(id, ring, -Infinity, Infinity, (start, count, sum, min, max, last, lastTs) => {
      out.push(start, count, lastTs, last);
      if (count > 1) out.push(sum, min, max);
    });
    return Float64Array.from(out);
  }

  /** Merge an {@link exportRing} encoding into a series, bucket by bucket (exact). */
  importRing(id: number, ring: 'fine' | 'coarse', data: Float64Array): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    for (let i = 0; i < data.length; ) {
      const start = data[i]!;
      const count = data[i + 1]!;
      const off = data[i + 2]! - start;
      const last = data[i + 3]!;
      let sum = last;
      let min = last;
      let max = last;
      i += 4;
      if (count > 1) {
        sum = data[i]!;
        min = data[i + 1]!;
        max = data[i + 2]!;
        i += 3;
      }
      if (ring === 'fine') this.#mergeFine(c, row, Math.round(start / this.fineStepMs), off, count, sum, min, max, last);
      else this.#mergeCoarse(c, row, Math.round(start / this.coarseStepMs), Math.floor(off / this.#coarseOffUnit), count, sum, min, max, last);
    }
  }

  /** Visit the non-empty buckets of one ring with start in [fromMs, toMs], ascending. */
  visit(id: number, ring: 'fine' | 'coarse', fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    if (ring === 'fine') this.#visitFine(c, row, fromMs, toMs, visitor);
    else this.#visitCoarse(c, row, fromMs, toMs, visitor);
  }

  #visitFine(c: Chunk, row: number, fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const n = this.#fineN;
    const step = this.fineStepMs;
    const head = c.heads[2 * row + FINE]!;
    if (head === NO_HEAD) return;
    const b0 = Math.max(Math.ceil(fromMs / step), head - n + 1);
    const b1 = Math.min(Math.floor(toMs / step), head);
    const base = row * n;
    for (let b = b0; b <= b1; b++) {
      const s = b % n;
      const tag = c.fineTag[base + s]!;
      if (tag === 0) continue;
      const start = b * step;
      if (tag !== MULTI) {
        const last = c.fineLast[base + s]!;
        visitor(start, 1, last, last, last, last, start + tag - 1);
      } else {
        const e = c.fineLast[base + s]!;
        this.#ext[e >>> EXT_BITS]!.visit(e & EXT_MASK, start, 1, visitor);
      }
    }
  }

  #visitCoarse(c: Chunk, row: number, fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const n = this.#coarseN;
    const step = this.coarseStepMs;
    const head = c.heads[2 * row + COARSE]!;
    if (head === NO_HEAD) return;
    const b0 = Math.max(Math.ceil(fromMs / step), head - n + 1);
    const b1 = Math.min(Math.floor(toMs / step), head);
    const base = row * n;
    for (let b = b0; b <= b1; b++) {
      const slot = base + (b % n);
      if (c.coarse.count(slot) !== 0) c.coarse.visit(slot, b * step, this.#coarseOffUnit, visitor);
    }
  }

  /** The newest fine bucket of a series (or undefined when empty): [startMs, count, sum, min, max, last, lastTs]. */
  headBucket(id: number): [number, number, number, number, number, number, number] | undefined {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    const head = c.heads[2 * row + FINE]!;
    if (head === NO_HEAD) return undefined;
    let out: [number, number, number, number, number, number, number] | undefined;
    const start = head * this.fineStepMs;
    this.#visitFine(c, row, start, start, (s, count, sum, min, max, last, lastTs) => {
      out = [s, count, sum, min, max, last, lastTs];
    });
    return out;
  }

  /** Bytes held by the slabs and the overflow pool (what bench/memory reports per series). */
  bytes(): number {
    const c = this.#chunks[0];
    const perChunk = c === undefined ? 0 : c.heads.byteLength + c.fineTag.byteLength + c.fineLast.byteLength + c.coarse.byteLength;
    return perChunk * this.#chunks.length + this.#ext.length * EXT_PAGE * PackedRecords.BYTES;
  }

  /** Number of live series ids. */
  get size(): number {
    return this.#nextId - this.#freeIds.length;
  }

  #chunk(id: number): Chunk {
    const c = this.#chunks[id >> CHUNK_BITS];
    // Not assert.ok(…, `…${id}…`): its message would be built on every sample.
    if (c === undefined) assert.fail(`BUG: series id ${id} was never allocated`);
    return c;
  }

  #clearFine(c: Chunk, base: number, s: number): void {
    const slot = base + s;
    if (c.fineTag[slot] === MULTI) this.#extFree.push(c.fineLast[slot]!);
    c.fineTag[slot] = 0;
  }

  #extAlloc(): number {
    const e = this.#extFree.pop();
    if (e !== undefined) return e;
    if (this.#extNext === this.#ext.length * EXT_PAGE) {
      this.#ext.push(new PackedRecords(EXT_PAGE));
    }
    return this.#extNext++;
  }

  #newChunk(): Chunk {
    const f = CHUNK * this.#fineN;
    const k = CHUNK * this.#coarseN;
    return {
      heads: new Float64Array(2 * CHUNK).fill(NO_HEAD),
      fineTag: new Uint16Array(f),
      fineLast: new Float64Array(f),
      coarse: new SplitRecords(k),
    };
  }
}


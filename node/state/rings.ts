/**
 * Per-series ring buffers of buckets (DESIGN.md §6), stored column-wise in typed-array slabs of
 * CHUNK series each: no object per series or per sample, and RSS grows only with touched pages.
 *
 * Fine ring (1 s × 600 by default), compact for the common case of ≤ 1 sample per bucket:
 *   tag  Uint16  0 = empty, 1..65534 = one sample at offset tag-1 ms in the bucket, MULTI = see ext
 *   last Float64 the bucket's last value (by ts; ties go to the later arrival)
 * A fine bucket that gets a second sample moves its count/sum/min/max/last offset into a shared
 * overflow pool (`ext`), freed when the slot is recycled. 10 B per fine slot instead of 36.
 *
 * Coarse ring (1 min × 360 by default): count Uint32, sum/min/max/last Float64, last offset Uint16
 * (in units of ceil(coarseStep / 65535) ms).
 *
 * Invariant: slot (b mod N) of a series holds bucket b iff head − N < b ≤ head; older slots are
 * cleared when the head advances past them, so a read never sees a stale lap of the ring.
 */
import assert from 'node:assert/strict';
import type { RetentionConfig } from '../config/schema.js';

const CHUNK_BITS = 8;
const CHUNK = 1 << CHUNK_BITS;
const MULTI = 0xffff;
const NO_HEAD = -1;

interface Chunk {
  fineHead: Float64Array;
  fineTag: Uint16Array;
  fineLast: Float64Array;
  coarseHead: Float64Array;
  coarseCount: Uint32Array;
  coarseSum: Float64Array;
  coarseMin: Float64Array;
  coarseMax: Float64Array;
  coarseLast: Float64Array;
  coarseOff: Uint16Array;
}

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
  readonly #extOf = new Map<number, number>();
  #extCount = new Uint32Array(1024);
  #extSum = new Float64Array(1024);
  #extMin = new Float64Array(1024);
  #extMax = new Float64Array(1024);
  #extOff = new Uint16Array(1024);
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
    for (let s = 0; s < this.#fineN; s++) this.#clearFine(c, id, fb, s);
    c.fineHead[row] = NO_HEAD;
    c.coarseHead[row] = NO_HEAD;
    c.coarseCount.fill(0, row * this.#coarseN, (row + 1) * this.#coarseN);
    this.#freeIds.push(id);
  }

  /** Add one sample to both rings of a series. */
  write(id: number, ts: number, value: number): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    const fb = Math.floor(ts / this.fineStepMs);
    this.#mergeFine(c, id, row, fb, ts - fb * this.fineStepMs, 1, value, value, value, value);
    const cb = Math.floor(ts / this.coarseStepMs);
    this.#mergeCoarse(c, row, cb, Math.floor((ts - cb * this.coarseStepMs) / this.#coarseOffUnit), 1, value, value, value, value);
  }

  /**
   * Fold a whole bucket (count/sum/min/max, and `last` at offset `off` ms into the bucket) into
   * fine bucket `b`; one sample is the case count = 1. Same field-wise semantics as merge.ts
   * mergeBucket: the later offset wins `last`, ties go to the incoming bucket (the later arrival).
   */
  #mergeFine(c: Chunk, id: number, row: number, b: number, off: number, count: number, sum: number, min: number, max: number, last: number): void {
    const n = this.#fineN;
    const base = row * n;
    const head = c.fineHead[row]!;
    if (head === NO_HEAD || b > head) {
      // Advance the head, clearing every slot the ring laps over (at most n).
      const from = head === NO_HEAD ? b - n + 1 : Math.max(head + 1, b - n + 1);
      for (let bb = from; bb <= b; bb++) this.#clearFine(c, id, base, bb % n);
      c.fineHead[row] = b;
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
      // Becomes (or is created as) a multi-sample bucket in the overflow pool.
      const e = this.#extAlloc();
      this.#extCount[e] = count;
      this.#extSum[e] = sum;
      this.#extMin[e] = min;
      this.#extMax[e] = max;
      this.#extOff[e] = off;
      if (tag !== 0) {
        const prevOff = tag - 1;
        const prev = c.fineLast[slot]!;
        this.#extCount[e]!++;
        this.#extSum[e]! += prev;
        if (prev < min) this.#extMin[e] = prev;
        if (prev > max) this.#extMax[e] = prev;
        if (off < prevOff) {
          last = prev;
          this.#extOff[e] = prevOff;
        }
      }
      c.fineLast[slot] = last;
      c.fineTag[slot] = MULTI;
      this.#extOf.set(id * n + s, e);
    } else {
      const e = this.#extOf.get(id * n + s);
      assert.ok(e !== undefined, 'BUG: MULTI fine slot without an overflow entry');
      this.#extCount[e]! += count;
      this.#extSum[e]! += sum;
      if (min < this.#extMin[e]!) this.#extMin[e] = min;
      if (max > this.#extMax[e]!) this.#extMax[e] = max;
      if (off >= this.#extOff[e]!) {
        c.fineLast[slot] = last;
        this.#extOff[e] = off;
      }
    }
  }

  /** Coarse twin of #mergeFine; `off` is in units of #coarseOffUnit. */
  #mergeCoarse(c: Chunk, row: number, b: number, off: number, count: number, sum: number, min: number, max: number, last: number): void {
    const n = this.#coarseN;
    const base = row * n;
    const head = c.coarseHead[row]!;
    if (head === NO_HEAD || b > head) {
      const from = head === NO_HEAD ? b - n + 1 : Math.max(head + 1, b - n + 1);
      for (let bb = from; bb <= b; bb++) c.coarseCount[base + (bb % n)] = 0;
      c.coarseHead[row] = b;
    } else if (b <= head - n) {
      return;
    }
    const slot = base + (b % n);
    const cur = c.coarseCount[slot]!;
    if (cur === 0) {
      c.coarseCount[slot] = count;
      c.coarseSum[slot] = sum;
      c.coarseMin[slot] = min;
      c.coarseMax[slot] = max;
      c.coarseLast[slot] = last;
      c.coarseOff[slot] = off;
    } else {
      c.coarseCount[slot] = cur + count;
      c.coarseSum[slot]! += sum;
      if (min < c.coarseMin[slot]!) c.coarseMin[slot] = min;
      if (max > c.coarseMax[slot]!) c.coarseMax[slot] = max;
      if (off >= c.coarseOff[slot]!) {
        c.coarseLast[slot] = last;
        c.coarseOff[slot] = off;
      }
    }
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
      if (ring === 'fine') this.#mergeFine(c, id, row, Math.round(start / this.fineStepMs), off, count, sum, min, max, last);
      else this.#mergeCoarse(c, row, Math.round(start / this.coarseStepMs), Math.floor(off / this.#coarseOffUnit), count, sum, min, max, last);
    }
  }

  /** Visit the non-empty buckets of one ring with start in [fromMs, toMs], ascending. */
  visit(id: number, ring: 'fine' | 'coarse', fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    if (ring === 'fine') this.#visitFine(c, id, row, fromMs, toMs, visitor);
    else this.#visitCoarse(c, row, fromMs, toMs, visitor);
  }

  #visitFine(c: Chunk, id: number, row: number, fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const n = this.#fineN;
    const step = this.fineStepMs;
    const head = c.fineHead[row]!;
    if (head === NO_HEAD) return;
    const b0 = Math.max(Math.ceil(fromMs / step), head - n + 1);
    const b1 = Math.min(Math.floor(toMs / step), head);
    const base = row * n;
    for (let b = b0; b <= b1; b++) {
      const s = b % n;
      const tag = c.fineTag[base + s]!;
      if (tag === 0) continue;
      const last = c.fineLast[base + s]!;
      const start = b * step;
      if (tag !== MULTI) {
        visitor(start, 1, last, last, last, last, start + tag - 1);
      } else {
        const e = this.#extOf.get(id * n + s)!;
        visitor(start, this.#extCount[e]!, this.#extSum[e]!, this.#extMin[e]!, this.#extMax[e]!, last, start + this.#extOff[e]!);
      }
    }
  }

  #visitCoarse(c: Chunk, row: number, fromMs: number, toMs: number, visitor: BucketVisitor): void {
    const n = this.#coarseN;
    const step = this.coarseStepMs;
    const head = c.coarseHead[row]!;
    if (head === NO_HEAD) return;
    const b0 = Math.max(Math.ceil(fromMs / step), head - n + 1);
    const b1 = Math.min(Math.floor(toMs / step), head);
    const base = row * n;
    for (let b = b0; b <= b1; b++) {
      const slot = base + (b % n);
      const count = c.coarseCount[slot]!;
      if (count === 0) continue;
      const start = b * step;
      visitor(start, count, c.coarseSum[slot]!, c.coarseMin[slot]!, c.coarseMax[slot]!, c.coarseLast[slot]!, start + c.coarseOff[slot]! * this.#coarseOffUnit);
    }
  }

  /** The newest fine bucket of a series (or undefined when empty): [startMs, count, sum, min, max, last, lastTs]. */
  headBucket(id: number): [number, number, number, number, number, number, number] | undefined {
    const c = this.#chunk(id);
    const row = id & (CHUNK - 1);
    const head = c.fineHead[row]!;
    if (head === NO_HEAD) return undefined;
    let out: [number, number, number, number, number, number, number] | undefined;
    const start = head * this.fineStepMs;
    this.#visitFine(c, id, row, start, start, (s, count, sum, min, max, last, lastTs) => {
      out = [s, count, sum, min, max, last, lastTs];
    });
    return out;
  }

  /** Bytes held by the slabs and the overflow pool (what bench/memory reports per series). */
  bytes(): number {
    let perChunk = 0;
    const c = this.#chunks[0];
    if (c !== undefined) for (const a of Object.values(c) as ArrayBufferView[]) perChunk += a.byteLength;
    const ext = this.#extCount.byteLength + this.#extSum.byteLength * 3 + this.#extOff.byteLength;
    return perChunk * this.#chunks.length + ext + this.#extOf.size * 24;
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

  #clearFine(c: Chunk, id: number, base: number, s: number): void {
    const slot = base + s;
    if (c.fineTag[slot] === MULTI) {
      const key = id * this.#fineN + s;
      const e = this.#extOf.get(key);
      if (e !== undefined) {
        this.#extOf.delete(key);
        this.#extFree.push(e);
      }
    }
    c.fineTag[slot] = 0;
  }

  #extAlloc(): number {
    const e = this.#extFree.pop();
    if (e !== undefined) return e;
    if (this.#extNext === this.#extCount.length) {
      const cap = this.#extCount.length * 2;
      this.#extCount = grow(this.#extCount, new Uint32Array(cap));
      this.#extSum = grow(this.#extSum, new Float64Array(cap));
      this.#extMin = grow(this.#extMin, new Float64Array(cap));
      this.#extMax = grow(this.#extMax, new Float64Array(cap));
      this.#extOff = grow(this.#extOff, new Uint16Array(cap));
    }
    return this.#extNext++;
  }

  #newChunk(): Chunk {
    const f = CHUNK * this.#fineN;
    const k = CHUNK * this.#coarseN;
    return {
      fineHead: new Float64Array(CHUNK).fill(NO_HEAD),
      fineTag: new Uint16Array(f),
      fineLast: new Float64Array(f),
      coarseHead: new Float64Array(CHUNK).fill(NO_HEAD),
      coarseCount: new Uint32Array(k),
      coarseSum: new Float64Array(k),
      coarseMin: new Float64Array(k),
      coarseMax: new Float64Array(k),
      coarseLast: new Float64Array(k),
      coarseOff: new Uint16Array(k),
    };
  }
}

function grow<T extends Uint32Array | Float64Array | Uint16Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

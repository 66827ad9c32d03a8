/**
 * Bucket aggregates (count, sum, min, max, last, last's offset in the bucket) as numbered records
 * in typed arrays, in two layouts with one interface:
 *
 * - PackedRecords, 40 bytes each in one buffer: sum, min, max, last (Float64 ×4), count (Uint32),
 *   offset (Uint16), 2 bytes unused. A record spans one or two cache lines.
 * - SplitRecords, 38 bytes each: the four doubles side by side (32 bytes, half a cache line,
 *   never split across two), count and offset in columns of their own — three lines.
 *
 * Why records at all: a write lands on a random series, and with one column per field each field
 * was a cache miss of its own (six per bucket). Why two layouts: the rings' overflow entries are
 * allocated from a free list, scattered, and get the faster packed record; every series has a
 * full coarse ring (360 buckets by default), so the coarse ring keeps the 38 bytes per bucket that
 * the memory budget (DESIGN.md §6) is tracked with.
 *
 * Field-wise semantics are merge.ts mergeBucket's: counts and sums add, min/max fold, and the later
 * offset wins `last` — ties go to the incoming bucket (the later arrival).
 */
import type { BucketVisitor } from './rings.js';

export interface BucketRecords {
  /** Count of record i (0 = empty). */
  count(i: number): number;
  /** Empty record i (count 0; the other fields are rewritten by the next set). */
  clear(i: number): void;
  set(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void;
  /** Fold a bucket into non-empty record i. */
  merge(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void;
  /** Hand non-empty record i, a bucket starting at `start` whose offsets are in `offUnit` ms, to `visitor`. */
  visit(i: number, start: number, offUnit: number, visitor: BucketVisitor): void;
  /** Bytes held. */
  readonly byteLength: number;
}

/*
 * Both layouts are a Float64Array of doubles (sum, min, max, last at d … d + 3), a Uint32Array of
 * counts and a Uint16Array of offsets, each with its own index per record: the rules below are
 * written once, the classes only say where a record's fields are.
 */

function setAt(v: Float64Array, d: number, counts: Uint32Array, c: number, offs: Uint16Array, o: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  v[d] = sum;
  v[d + 1] = min;
  v[d + 2] = max;
  v[d + 3] = last;
  counts[c] = count;
  offs[o] = off;
}

function mergeAt(v: Float64Array, d: number, counts: Uint32Array, c: number, offs: Uint16Array, o: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  counts[c]! += count;
  v[d]! += sum;
  if (min < v[d + 1]!) v[d + 1] = min;
  if (max > v[d + 2]!) v[d + 2] = max;
  if (off >= offs[o]!) {
    v[d + 3] = last;
    offs[o] = off;
  }
}

function visitAt(v: Float64Array, d: number, count: number, off: number, start: number, offUnit: number, visitor: BucketVisitor): void {
  visitor(start, count, v[d]!, v[d + 1]!, v[d + 2]!, v[d + 3]!, start + off * offUnit);
}

/** 40-byte records in one buffer: doubles at 5i, count at Uint32 10i + 8, offset at Uint16 20i + 18. */
export class PackedRecords implements BucketRecords {
  static readonly BYTES = 40;
  readonly #f64: Float64Array;
  readonly #u32: Uint32Array;
  readonly #u16: Uint16Array;

  constructor(n: number) {
    const buf = new ArrayBuffer(n * PackedRecords.BYTES);
    this.#f64 = new Float64Array(buf);
    this.#u32 = new Uint32Array(buf);
    this.#u16 = new Uint16Array(buf);
  }

  get byteLength(): number {
    return this.#f64.byteLength;
  }

  count(i: number): number {
    return this.#u32[10 * i + 8]!;
  }

  clear(i: number): void {
    this.#u32[10 * i + 8] = 0;
  }

  set(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
    setAt(this.#f64, 5 * i, this.#u32, 10 * i + 8, this.#u16, 20 * i + 18, count, sum, min, max, last, off);
  }

  merge(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
    mergeAt(this.#f64, 5 * i, this.#u32, 10 * i + 8, this.#u16, 20 * i + 18, count, sum, min, max, last, off);
  }

  visit(i: number, start: number, offUnit: number, visitor: BucketVisitor): void {
    visitAt(this.#f64, 5 * i, this.#u32[10 * i + 8]!, this.#u16[20 * i + 18]!, start, offUnit, visitor);
  }
}

/** 38-byte records: doubles at 4i, count and offset at i of their own columns. */
export class SplitRecords implements BucketRecords {
  static readonly BYTES = 32 + 4 + 2;
  readonly #f64: Float64Array;
  readonly #count: Uint32Array;
  readonly #off: Uint16Array;

  constructor(n: number) {
    this.#f64 = new Float64Array(4 * n);
    this.#count = new Uint32Array(n);
    this.#off = new Uint16Array(n);
  }

  get byteLength(): number {
    return this.#f64.byteLength + this.#count.byteLength + this.#off.byteLength;
  }

  count(i: number): number {
    return this.#count[i]!;
  }

  clear(i: number): void {
    this.#count[i] = 0;
  }

  set(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
    setAt(this.#f64, 4 * i, this.#count, i, this.#off, i, count, sum, min, max, last, off);
  }

  merge(i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
    mergeAt(this.#f64, 4 * i, this.#count, i, this.#off, i, count, sum, min, max, last, off);
  }

  visit(i: number, start: number, offUnit: number, visitor: BucketVisitor): void {
    visitAt(this.#f64, 4 * i, this.#count[i]!, this.#off[i]!, start, offUnit, visitor);
  }
}

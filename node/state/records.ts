/**
 * Bucket aggregates (count, sum, min, max, last, last's offset in the bucket) as fixed 40-byte
 * records in one ArrayBuffer, read and written through three views of it:
 *
 *   bytes  0..31  sum, min, max, last   Float64 ×4
 *   bytes 32..35  count                 Uint32
 *   bytes 36..37  last's offset         Uint16 (the ring's unit)
 *   bytes 38..39  unused
 *
 * One record spans one or two cache lines; the same fields in six columns were six lines apart.
 * Field-wise semantics are merge.ts mergeBucket's: counts and sums add, min/max fold, and the later
 * offset wins `last` — ties go to the incoming bucket (the later arrival).
 */
import type { BucketVisitor } from './rings.js';

export const RECORD_BYTES = 40;
const F64 = RECORD_BYTES / 8;
const U32 = RECORD_BYTES / 4;
const U16 = RECORD_BYTES / 2;
const COUNT = 8; // in Uint32 units
const OFF = 18; // in Uint16 units

export interface Records {
  f64: Float64Array;
  u32: Uint32Array;
  u16: Uint16Array;
}

/** `n` zeroed records (count 0 = empty). */
export function newRecords(n: number): Records {
  const buf = new ArrayBuffer(n * RECORD_BYTES);
  return { f64: new Float64Array(buf), u32: new Uint32Array(buf), u16: new Uint16Array(buf) };
}

export function recordCount(r: Records, i: number): number {
  return r.u32[i * U32 + COUNT]!;
}

/** Empty record i (count 0; the other fields are rewritten by the next setRecord). */
export function clearRecord(r: Records, i: number): void {
  r.u32[i * U32 + COUNT] = 0;
}

export function setRecord(r: Records, i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  const f = i * F64;
  r.f64[f] = sum;
  r.f64[f + 1] = min;
  r.f64[f + 2] = max;
  r.f64[f + 3] = last;
  r.u32[i * U32 + COUNT] = count;
  r.u16[i * U16 + OFF] = off;
}

/** Fold a bucket into non-empty record i. */
export function mergeRecord(r: Records, i: number, count: number, sum: number, min: number, max: number, last: number, off: number): void {
  const f = i * F64;
  r.u32[i * U32 + COUNT]! += count;
  r.f64[f]! += sum;
  if (min < r.f64[f + 1]!) r.f64[f + 1] = min;
  if (max > r.f64[f + 2]!) r.f64[f + 2] = max;
  const o = i * U16 + OFF;
  if (off >= r.u16[o]!) {
    r.f64[f + 3] = last;
    r.u16[o] = off;
  }
}

/** Hand non-empty record i, a bucket starting at `start` whose offsets are in `offUnit` ms, to `visitor`. */
export function visitRecord(r: Records, i: number, start: number, offUnit: number, visitor: BucketVisitor): void {
  const f = i * F64;
  visitor(start, r.u32[i * U32 + COUNT]!, r.f64[f]!, r.f64[f + 1]!, r.f64[f + 2]!, r.f64[f + 3]!, start + r.u16[i * U16 + OFF]! * offUnit);
}

/**
 * Decoding the Redis state store's script replies (layouts in redis-scripts.ts). Doubles travel as
 * IEEE-754 bytes, so nothing is lost in text formatting.
 */
import assert from 'node:assert/strict';

/** One stored bucket: [b, count, sum, min, max, last, off] (b the bucket index, off of `last`). */
export type RawBucket = [number, number, number, number, number, number, number];

/** One series of one writer's partial, as fp_read returns it. */
export interface ReadSeries {
  writer: string;
  field: string;
  counter: boolean;
  /** Ascending by b. */
  buckets: RawBucket[];
}

const BUCKET_BYTES = 46;

export function decodeBucket(blob: Buffer, p: number): RawBucket {
  return [blob.readDoubleLE(p), blob.readUInt32LE(p + 8), blob.readDoubleLE(p + 12), blob.readDoubleLE(p + 20), blob.readDoubleLE(p + 28), blob.readDoubleLE(p + 36), blob.readUInt16LE(p + 44)];
}

export function decodeRead(reply: unknown): ReadSeries[] {
  assert.ok(Array.isArray(reply) && reply.length % 3 === 0, 'BUG: fp_read must reply with writer/field/blob triplets');
  const out: ReadSeries[] = [];
  for (let i = 0; i < reply.length; i += 3) {
    const [w, f, blob] = [reply[i] as unknown, reply[i + 1] as unknown, reply[i + 2] as unknown];
    assert.ok(Buffer.isBuffer(w) && Buffer.isBuffer(f) && Buffer.isBuffer(blob) && blob.length >= 1 && (blob.length - 1) % BUCKET_BYTES === 0, 'BUG: malformed fp_read reply');
    const buckets: RawBucket[] = [];
    for (let p = 1; p < blob.length; p += BUCKET_BYTES) buckets.push(decodeBucket(blob, p));
    out.push({ writer: w.toString('utf8'), field: f.toString('utf8'), counter: blob.readUInt8(0) === 1, buckets });
  }
  return out;
}

/** fp_heads' reply: [source #, pair # (both 1-based), bucket] per other writer holding the bucket. */
export function decodeHeads(reply: unknown): Array<[number, number, RawBucket]> {
  assert.ok(Array.isArray(reply) && reply.length % 3 === 0, 'BUG: fp_heads must reply with source/pair/blob triplets');
  const out: Array<[number, number, RawBucket]> = [];
  for (let i = 0; i < reply.length; i += 3) {
    const [k, n, blob] = [reply[i] as unknown, reply[i + 1] as unknown, reply[i + 2] as unknown];
    assert.ok(typeof k === 'number' && typeof n === 'number' && Buffer.isBuffer(blob) && blob.length === BUCKET_BYTES, 'BUG: malformed fp_heads reply');
    out.push([k, n, decodeBucket(blob, 0)]);
  }
  return out;
}

/** fp_meta's field value: <Bd kind updatedAt, then the unit. */
export function decodeMeta(v: Buffer): { kind: number; updatedAt: number; unit: string } {
  return { kind: v.readUInt8(0), updatedAt: v.readDoubleLE(1), unit: v.subarray(9).toString('utf8') };
}

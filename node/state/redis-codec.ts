/**
 * Binary encoding between the Redis state store and its Lua scripts (layouts documented in
 * redis-scripts.ts). Doubles travel as IEEE-754 bytes, so nothing is lost in text formatting.
 */
import assert from 'node:assert/strict';
import type { BucketDelta, SourceDelta } from '../aggregate/delta.js';

/** Grows as needed; one per commit. */
export class BlobWriter {
  #buf = Buffer.allocUnsafe(4096);
  #pos = 0;

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
  u8(v: number): void {
    this.#room(1);
    this.#buf.writeUInt8(v, this.#pos);
    this.#pos += 1;
  }
  u16(v: number): void {
    this.#room(2);
    this.#buf.writeUInt16LE(v, this.#pos);
    this.#pos += 2;
  }
  u32(v: number): void {
    this.#room(4);
    this.#buf.writeUInt32LE(v, this.#pos);
    this.#pos += 4;
  }
  /** <H byte length, then the UTF-8 bytes. */
  str(v: string): void {
    const n = Buffer.byteLength(v);
    this.u16(n);
    this.#room(n);
    this.#buf.write(v, this.#pos, 'utf8');
    this.#pos += n;
  }
  f64(v: number): void {
    this.#room(8);
    this.#buf.writeDoubleLE(v, this.#pos);
    this.#pos += 8;
  }
  /** The bytes written since `from` (a copy, so the writer can be reused). */
  slice(from: number): Buffer {
    return Buffer.from(this.#buf.subarray(from, this.#pos));
  }
  get pos(): number {
    return this.#pos;
  }
}

function writeDelta(w: BlobWriter, d: BucketDelta): void {
  if (d.count === 1) {
    w.u8(1);
    w.f64(d.b);
    w.f64(d.last);
    w.u16(d.off);
  } else {
    w.u8(2);
    w.f64(d.b);
    w.u32(d.count);
    w.f64(d.sum);
    w.f64(d.min);
    w.f64(d.max);
    w.f64(d.last);
    w.u16(d.off);
  }
}

/**
 * One source's part of an fp_write call, as one binary argument (one argument per source instead
 * of two per series: fewer arguments for ioredis to serialise and for Redis to turn into Lua strings):
 * <H nTimes, d × nTimes receive times, H nSeries, then per series: <H len + field bytes (metric NUL
 * tags), <B counter, <I4 nFine, <I4 nCoarse, then the deltas (fine, then coarse, each ascending).
 */
export function encodeSource(w: BlobWriter, s: SourceDelta): Buffer {
  const from = w.pos;
  w.u16(s.receivedAts.length);
  for (const t of s.receivedAts) w.f64(t);
  w.u16(s.series.size);
  for (const [field, sd] of s.series) {
    w.str(field);
    w.u8(sd.counter ? 1 : 0);
    w.u32(sd.fine.size);
    w.u32(sd.coarse.size);
    writeRing(w, sd.fine);
    writeRing(w, sd.coarse);
  }
  return w.slice(from);
}

function writeRing(w: BlobWriter, ring: Map<number, BucketDelta>): void {
  if (ring.size === 1) for (const d of ring.values()) writeDelta(w, d);
  else for (const d of [...ring.values()].sort(byBucket)) writeDelta(w, d);
}

const byBucket = (a: BucketDelta, b: BucketDelta): number => a.b - b.b;

/** The fine head bucket of a series as fp_write reports it after the write. */
export interface HeadBucket extends BucketDelta {
  /** The series did not exist before this write. */
  created: boolean;
}

const HEAD_BYTES = 47;
const READ_BYTES = 46;

export function decodeHeads(reply: unknown, expected: number): HeadBucket[] {
  assert.ok(Buffer.isBuffer(reply), 'BUG: fp_write must reply with a binary string');
  assert.equal(reply.length, expected * HEAD_BYTES, 'BUG: fp_write reply length does not match the series sent');
  const out: HeadBucket[] = [];
  for (let p = 0; p < reply.length; p += HEAD_BYTES) {
    out.push({
      created: (reply.readUInt8(p) & 1) === 1,
      b: reply.readDoubleLE(p + 1),
      count: reply.readUInt32LE(p + 9),
      sum: reply.readDoubleLE(p + 13),
      min: reply.readDoubleLE(p + 21),
      max: reply.readDoubleLE(p + 29),
      last: reply.readDoubleLE(p + 37),
      off: reply.readUInt16LE(p + 45),
    });
  }
  return out;
}

/** One series as fp_read returns it. */
export interface ReadSeries {
  field: string;
  counter: boolean;
  /** Per bucket: [b, count, sum, min, max, last, off], ascending by b. */
  buckets: Array<[number, number, number, number, number, number, number]>;
}

export function decodeRead(reply: unknown): ReadSeries[] {
  assert.ok(Array.isArray(reply) && reply.length % 2 === 0, 'BUG: fp_read must reply with field/blob pairs');
  const out: ReadSeries[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const f: unknown = reply[i];
    const blob: unknown = reply[i + 1];
    assert.ok(Buffer.isBuffer(f) && Buffer.isBuffer(blob) && blob.length >= 1 && (blob.length - 1) % READ_BYTES === 0, 'BUG: malformed fp_read reply');
    const buckets: ReadSeries['buckets'] = [];
    for (let p = 1; p < blob.length; p += READ_BYTES) {
      buckets.push([blob.readDoubleLE(p), blob.readUInt32LE(p + 8), blob.readDoubleLE(p + 12), blob.readDoubleLE(p + 20), blob.readDoubleLE(p + 28), blob.readDoubleLE(p + 36), blob.readUInt16LE(p + 44)]);
    }
    out.push({ field: f.toString('utf8'), counter: blob.readUInt8(0) === 1, buckets });
  }
  return out;
}

/** fp_meta's field value: <Bd kind updatedAt, then the unit. */
export function decodeMeta(v: Buffer): { kind: number; updatedAt: number; unit: string } {
  return { kind: v.readUInt8(0), updatedAt: v.readDoubleLE(1), unit: v.subarray(9).toString('utf8') };
}

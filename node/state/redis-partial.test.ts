/**
 * The Redis write path's in-memory pieces without a Redis: a partial's `HB` (kept between flushes,
 * rewritten only for touched series), the chunks a moving head writes, and fp_put's blob, checked against the layouts the Lua
 * readers depend on (redis-scripts.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaBuilder, type SourceDelta } from '../aggregate/delta.js';
import { PartialSource, HEAD_SLOT_BYTES as HS, type HeadBucket, type RingShape } from './redis-partial.js';
import { decodeLiveness, encodePut, putGroups, type PutPart } from './redis-writer.js';
import { batchOf, DEFAULT_RETENTION, type S } from './store.contract.js';

const shape: RingShape = { fineN: 600, coarseN: 360, ch: 8 };
const T = 1_700_000_040_000;

/** One tick of samples, all of source 'a'. */
function tick(samples: readonly S[]): SourceDelta {
  const b = new DeltaBuilder(DEFAULT_RETENTION);
  b.add(batchOf(samples), T);
  return b.take().sources.get('a')!;
}

/** Apply a tick and flush it as the writer does; returns HB and the chunk fields written (name → bytes). */
function flushTick(p: PartialSource, samples: readonly S[]): { H: Buffer; writes: Map<string, Buffer> } {
  const src = tick(samples);
  for (const [field, sr] of src.series) p.apply(field, src.buckets, sr, shape);
  const H = Buffer.from(p.heads());
  const w = p.takeWrites();
  const writes = new Map<string, Buffer>();
  for (let i = 0; i < w.length; i += 2) writes.set(w[i] as string, Buffer.from(w[i + 1] as Buffer));
  p.trim(shape);
  return { H, writes };
}

function applyTick(p: PartialSource, samples: readonly S[]): Buffer {
  return flushTick(p, samples).H;
}

const bucketAt = (H: Buffer, o: number): HeadBucket => ({ count: H.readUInt32LE(o), sum: H.readDoubleLE(o + 4), min: H.readDoubleLE(o + 12), max: H.readDoubleLE(o + 20), last: H.readDoubleLE(o + 28), off: H.readUInt16LE(o + 36) });

/** One `HB` slot as the readers see it: heads, flags, and both head buckets. */
function slot(H: Buffer, sid: number): { fh: number; ch: number; flags: number; coarse: HeadBucket; fine: HeadBucket } {
  const o = (sid - 1) * HS;
  return { fh: H.readDoubleLE(o), ch: H.readDoubleLE(o + 8), flags: H.readUInt8(o + 16), coarse: bucketAt(H, o + 17), fine: bucketAt(H, o + 55) };
}

const one = (v: number, off: number): HeadBucket => ({ count: 1, sum: v, min: v, max: v, last: v, off });

test('heads(): a series untouched since the last flush keeps its slot; a new series grows HB', () => {
  const p = new PartialSource('a');
  const H1 = applyTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }, { source: 'a', metric: 'mem', value: 2, ts: T }]);
  assert.equal(H1.length, 2 * HS);
  // Only mem and a new series this time: cpu's slot must still be there, unchanged.
  const H2 = applyTick(p, [{ source: 'a', metric: 'mem', value: 4, ts: T + 1000 }, { source: 'a', metric: 'disk', value: 8, ts: T, kind: 'counter' }]);
  assert.equal(H2.length, 3 * HS);
  assert.deepEqual(H2.subarray(0, HS), H1.subarray(0, HS));
  assert.deepEqual(slot(H2, 2), { fh: (T + 1000) / 1000, ch: T / 60_000, flags: 1, coarse: { count: 2, sum: 6, min: 2, max: 4, last: 4, off: 1000 }, fine: one(4, 0) });
  assert.deepEqual(slot(H2, 3), { fh: T / 1000, ch: T / 60_000, flags: 3, coarse: one(8, 0), fine: one(8, 0) });
});

test('the fine head bucket gathers its samples in HB; chunks are written only when the head moves on or a late sample lands', () => {
  const p = new PartialSource('a');
  const b0 = T / 1000;
  const c = Math.floor(b0 / shape.ch);
  const first = flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T + 100 }, { source: 'a', metric: 'cpu', value: 3, ts: T + 300 }]);
  assert.deepEqual(slot(first.H, 1).fine, { count: 2, sum: 4, min: 1, max: 3, last: 3, off: 300 });
  assert.deepEqual([...first.writes.keys()], [], 'the head bucket only: no chunk');
  const again = flushTick(p, [{ source: 'a', metric: 'cpu', value: 2, ts: T + 200 }]);
  assert.deepEqual(slot(again.H, 1).fine, { count: 3, sum: 6, min: 1, max: 3, last: 3, off: 300 }, 'an earlier offset does not replace last');
  assert.deepEqual([...again.writes.keys()], []);
  // The head moves on one bucket: the old head goes into its chunk's field, followed by the
  // chunk's overflow (the bucket holds 3 samples).
  const moved = flushTick(p, [{ source: 'a', metric: 'cpu', value: 5, ts: T + 1000 }, { source: 'a', metric: 'mem', value: 1, ts: T }]);
  assert.deepEqual(slot(moved.H, 1).fine, one(5, 0));
  assert.deepEqual([...moved.writes.keys()], [`1F${c}`]);
  const at = b0 - c * shape.ch;
  const F = moved.writes.get(`1F${c}`)!;
  assert.equal(F.length, shape.ch * 40, 'fine chunk, then its overflow');
  assert.equal(F.readUInt16LE(at * 10), 0xffff, 'MULTI');
  assert.equal(F.readDoubleLE(at * 10 + 2), 3);
  const xo = shape.ch * 10 + at * 30;
  assert.deepEqual([F.readUInt32LE(xo), F.readDoubleLE(xo + 4), F.readDoubleLE(xo + 12), F.readDoubleLE(xo + 20), F.readUInt16LE(xo + 28)], [3, 6, 1, 3, 300], 'count sum min max off');
  // Moving on from a one-sample head writes its tag and value; a chunk without MULTI slots has no overflow part.
  const single = flushTick(p, [{ source: 'a', metric: 'cpu', value: 6, ts: T + 2000 }, { source: 'a', metric: 'mem', value: 2, ts: T + 1000 }]);
  assert.deepEqual([...single.writes.keys()], [`1F${c}`, `2F${c}`]);
  assert.equal(single.writes.get(`1F${c}`)!.readUInt16LE((at + 1) * 10), 1, 'one sample at offset 0: tag 1');
  assert.equal(single.writes.get(`2F${c}`)!.length, shape.ch * 10);
  // A late sample for a bucket behind the head lands in its chunk; the head is untouched.
  const late = flushTick(p, [{ source: 'a', metric: 'cpu', value: 7, ts: T + 1500 }]);
  assert.deepEqual(slot(late.H, 1).fine, one(6, 0));
  assert.deepEqual([...late.writes.keys()], [`1F${c}`]);
});

test('loadHeads(): heads() afterwards gives back the HB it was loaded from, and the next ticks write the same', () => {
  const p = new PartialSource('a');
  flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }, { source: 'a', metric: 'mem', value: 2, ts: T + 3000 }, { source: 'a', metric: 'mem', value: 3, ts: T + 3001 }]);
  const { H } = flushTick(p, [{ source: 'a', metric: 'cpu', value: 5, ts: T + 9000 }, { source: 'a', metric: 'cpu', value: 6, ts: T + 9500 }]);
  const q = new PartialSource('a');
  q.loadHeads(H, new Map([['cpu\u0000', 1], ['mem\u0000', 2]]));
  assert.deepEqual(Buffer.from(q.heads()), H);
  // The same ticks on both: same HB (head buckets restored from HB). Moving mem's head needs its
  // chunk, which q has not read: q starts it from zeros, as a reader of Redis would have given it.
  const next: S[] = [{ source: 'a', metric: 'cpu', value: 7, ts: T + 9700 }];
  assert.deepEqual(flushTick(q, next), flushTick(p, next));
  const memTick = tick([{ source: 'a', metric: 'mem', value: 8, ts: T + 4000 }]);
  const missing = q.missing('mem\u0000', memTick.buckets, memTick.series.get('mem\u0000')!, shape);
  assert.deepEqual(missing, [`2F${Math.floor((T + 3000) / 1000 / shape.ch)}`], 'the old head\'s chunk (with its overflow) is read before the head moves');
});

test('loaded(): a fine field read back splits into the chunk and its overflow; a late sample then writes what the writer would', () => {
  const p = new PartialSource('a');
  const c = Math.floor(T / 1000 / shape.ch);
  flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }, { source: 'a', metric: 'cpu', value: 2, ts: T + 10 }]);
  const { H, writes } = flushTick(p, [{ source: 'a', metric: 'cpu', value: 3, ts: T + 1000 }]);
  const q = new PartialSource('a');
  q.loadHeads(H, new Map([['cpu\u0000', 1]]));
  const late: S[] = [{ source: 'a', metric: 'cpu', value: 9, ts: T + 5 }];
  const lateTick = tick(late);
  const sr = lateTick.series.get('cpu\u0000')!;
  assert.deepEqual(q.missing('cpu\u0000', lateTick.buckets, sr, shape), [`1F${c}`]);
  q.loaded([`1F${c}`], [writes.get(`1F${c}`)!], shape);
  assert.deepEqual(q.missing('cpu\u0000', lateTick.buckets, sr, shape), []);
  const got = flushTick(q, late).writes.get(`1F${c}`)!;
  assert.deepEqual(got, flushTick(p, late).writes.get(`1F${c}`));
  const xo = shape.ch * 10; // bucket 0 of the chunk's overflow
  assert.deepEqual([got.readUInt32LE(xo), got.readDoubleLE(xo + 4), got.readDoubleLE(xo + 12), got.readDoubleLE(xo + 20), got.readUInt16LE(xo + 28)], [3, 12, 1, 9, 10]);
});

/** An `L` field: <dd lastSeen, interval. */
function liveness(ls: number, iv: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeDoubleLE(ls, 0);
  b.writeDoubleLE(iv, 8);
  return b;
}

/** PUT_LUA's reading of the blob, in JS. */
function decodePut(blob: Buffer, sources: number): Array<{ refresh: number; lists: Buffer[][] }> {
  let p = 0;
  const list = (): Buffer[] => {
    const n = blob.readUInt32LE(p);
    p += 4;
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const len = blob.readUInt32LE(p);
      out.push(blob.subarray(p + 4, p + 4 + len));
      p += 4 + len;
    }
    return out;
  };
  const out = [];
  for (let k = 0; k < sources; k++) {
    const refresh = blob.readUInt8(p++);
    out.push({ refresh, lists: [list(), list(), list()] });
  }
  assert.equal(p, blob.length, 'the blob holds nothing else');
  return out;
}

test('encodePut(): the blob PUT_LUA reads — UTF-8 info fields, HB, liveness, chunks, deletions', () => {
  const H = Buffer.from([1, 2, 3, 4]);
  const chunk = Buffer.alloc(80, 7);
  const parts: PutPart[] = [
    { refresh: true, info: ['n', '1', 'cpu\u0000host=é', '1'], H, ls: 1_700_000_040_000, iv: 1000.5, writes: ['1F5', chunk], dels: ['1F2', '1C2'] },
    { refresh: false, info: [], H: Buffer.alloc(0), ls: 5, iv: 0, writes: [], dels: [] },
  ];
  const [a, b] = decodePut(encodePut(parts), 2);
  const str = (l: Buffer[]): string[] => l.map((x) => x.toString('utf8'));
  assert.equal(a!.refresh, 1);
  assert.deepEqual(str(a!.lists[0]!), ['n', '1', 'cpu\u0000host=é', '1']);
  assert.deepEqual(a!.lists[1]!.map((x, i) => (i === 1 || i === 3 || i === 5 ? x : x.toString())), ['HB', H, 'L', liveness(1_700_000_040_000, 1000.5), '1F5', chunk]);
  assert.deepEqual(decodeLiveness(a!.lists[1]![3]!), [1_700_000_040_000, 1000.5]);
  assert.deepEqual(str(a!.lists[2]!), ['1F2', '1C2']);
  assert.equal(b!.refresh, 0);
  assert.deepEqual(b!.lists.map((l) => l.map((x) => x.toString('latin1'))), [[], ['HB', '', 'L', liveness(5, 0).toString('latin1')], []]);
});

test('putGroups(): parts of at least min sources, cut only where no request has sources on both sides, or at max', () => {
  const src = (name: string, firstAdd: number, lastAdd: number) => ({ name, firstAdd, lastAdd });
  const names = (gs: Array<Array<{ name: string }>>): string[][] => gs.map((g) => g.map((x) => x.name));
  const span = (x: { firstAdd: number; lastAdd: number }) => x;
  // Requests 0: a b c, 1: d e, 2: f.
  const disjoint = [src('a', 0, 0), src('b', 0, 0), src('c', 0, 0), src('d', 1, 1), src('e', 1, 1), src('f', 2, 2)];
  assert.deepEqual(names(putGroups(disjoint, span, 2, 10)), [['a', 'b', 'c'], ['d', 'e'], ['f']]);
  assert.deepEqual(names(putGroups(disjoint, span, 4, 10)), [['a', 'b', 'c', 'd', 'e'], ['f']]);
  // Request 1 also has a: nothing may be cut before request 1 ends.
  const shared = [src('a', 0, 1), src('b', 0, 0), src('c', 1, 1), src('d', 2, 2)];
  assert.deepEqual(names(putGroups(shared, span, 1, 10)), [['a', 'b', 'c'], ['d']]);
  // One big request: cut at max.
  const big = ['a', 'b', 'c', 'd', 'e'].map((n) => src(n, 0, 0));
  assert.deepEqual(names(putGroups(big, span, 1, 2)), [['a', 'b'], ['c', 'd'], ['e']]);
  assert.deepEqual(putGroups([], span, 1, 2), []);
});

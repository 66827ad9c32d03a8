/**
 * The Redis write path's in-memory pieces without a Redis: a partial's `H` (kept between flushes,
 * rewritten only for touched series) and fp_put's blob, checked against the layouts the Lua
 * readers depend on (redis-scripts.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaBuilder, type SourceDelta } from '../aggregate/delta.js';
import { PartialSource, headSlotBytes, type RingShape } from './redis-partial.js';
import { encodePut, putGroups, type PutPart } from './redis-writer.js';
import { batchOf, DEFAULT_RETENTION, type S } from './store.contract.js';

const shape: RingShape = { fineN: 600, coarseN: 360, ch: 8 };
const HS = headSlotBytes(shape.ch);
const T = 1_700_000_040_000;

/** One tick of samples, all of source 'a'. */
function tick(samples: readonly S[]): SourceDelta {
  const b = new DeltaBuilder(DEFAULT_RETENTION);
  b.add(batchOf(samples), T);
  return b.take().sources.get('a')!;
}

/** Apply a tick and flush it as the writer does; returns H, HX (when written) and the other data fields. */
function flushTick(p: PartialSource, samples: readonly S[]): { H: Buffer; HX: Buffer | undefined; writes: string[] } {
  for (const [field, sd] of tick(samples).series) p.apply('a', field, sd, shape, DEFAULT_RETENTION.fineStepMs);
  const H = Buffer.from(p.heads(shape));
  const HX = p.overflowHeads(shape);
  const writes = p.takeWrites(shape).filter((x): x is string => typeof x === 'string');
  p.trim(shape);
  return { H, HX: HX && Buffer.from(HX), writes };
}

function applyTick(p: PartialSource, samples: readonly S[]): Buffer {
  return flushTick(p, samples).H;
}

/** The fields of one `H` slot the readers use: fine head, coarse head, flags, head bucket count/sum. */
function slot(H: Buffer, sid: number): { fh: number; ch: number; flags: number; cc: number; cs: number } {
  const o = (sid - 1) * HS;
  return { fh: H.readDoubleLE(o), ch: H.readDoubleLE(o + 8), flags: H.readUInt8(o + 16), cc: H.readUInt32LE(o + 17), cs: H.readDoubleLE(o + 21) };
}

test('heads(): a series untouched since the last flush keeps its slot; a new series grows H', () => {
  const p = new PartialSource();
  const H1 = applyTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }, { source: 'a', metric: 'mem', value: 2, ts: T }]);
  assert.equal(H1.length, 2 * HS);
  // Only mem and a new series this time: cpu's slot must still be there, unchanged.
  const H2 = applyTick(p, [{ source: 'a', metric: 'mem', value: 4, ts: T + 1000 }, { source: 'a', metric: 'disk', value: 8, ts: T, kind: 'counter' }]);
  assert.equal(H2.length, 3 * HS);
  assert.deepEqual(H2.subarray(0, HS), H1.subarray(0, HS));
  assert.deepEqual(slot(H2, 2), { fh: (T + 1000) / 1000, ch: T / 60_000, flags: 1, cc: 2, cs: 6 });
  assert.deepEqual(slot(H2, 3), { fh: T / 1000, ch: T / 60_000, flags: 3, cc: 1, cs: 8 });
});

test('loadHeads(): heads() and overflowHeads() afterwards give back the H and HX it was loaded from', () => {
  const p = new PartialSource();
  flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }, { source: 'a', metric: 'mem', value: 2, ts: T + 3000 }, { source: 'a', metric: 'mem', value: 3, ts: T + 3001 }]);
  const { H, HX } = flushTick(p, [{ source: 'a', metric: 'cpu', value: 5, ts: T + 9000 }, { source: 'a', metric: 'cpu', value: 6, ts: T + 9500 }]);
  assert.ok(HX !== undefined);
  const q = new PartialSource();
  q.loadHeads(H, HX, new Map([['cpu\u0000', 1], ['mem\u0000', 2]]), shape);
  assert.deepEqual(Buffer.from(q.heads(shape)), H);
  // The same next tick on both: same H, HX and fields (the head overflows were restored from HX).
  const next: S[] = [{ source: 'a', metric: 'cpu', value: 7, ts: T + 9700 }, { source: 'a', metric: 'mem', value: 8, ts: T + 3500 }];
  assert.deepEqual(flushTick(q, next), flushTick(p, next));
});

test('overflowHeads(): HX is written only when a head overflow changed; a head leaving its chunk writes its overflow as a field', () => {
  const p = new PartialSource();
  const xs = shape.ch * 30;
  const first = flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T }]);
  assert.deepEqual(first.HX, Buffer.alloc(xs), 'a new series: its slot, zeros (no overflow)');
  assert.equal(flushTick(p, [{ source: 'a', metric: 'cpu', value: 1, ts: T + 1000 }]).HX, undefined, 'one sample per bucket: no overflow');
  const multi = flushTick(p, [{ source: 'a', metric: 'cpu', value: 2, ts: T + 1500 }]);
  assert.equal(multi.HX?.readUInt32LE(30), 2, 'bucket 1 of the chunk: count 2');
  assert.deepEqual(multi.writes, [], 'no overflow field while it is the head chunk\'s');
  // The head moves to the next chunk (8 buckets): the old head's overflow becomes a field.
  const moved = flushTick(p, [{ source: 'a', metric: 'cpu', value: 3, ts: T + 8000 }]);
  const c = Math.floor(T / 1000 / shape.ch);
  assert.deepEqual(moved.writes.sort(), [`1F${c}`, `1X${c}`]);
  assert.deepEqual(moved.HX, Buffer.alloc(xs), 'the new head chunk has no overflow yet');
});

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

test('encodePut(): the blob PUT_LUA reads — UTF-8 info fields, H, liveness, HX, chunks, deletions', () => {
  const H = Buffer.from([1, 2, 3, 4]);
  const chunk = Buffer.alloc(80, 7);
  const parts: PutPart[] = [
    { refresh: true, info: ['n', '1', 'cpu\u0000host=é', '1'], H, HX: Buffer.from([9]), ls: '1700000040000', iv: '1000.5', writes: ['1X5', chunk], dels: ['1F2', '1X2'] },
    { refresh: false, info: [], H: Buffer.alloc(0), HX: undefined, ls: 'undefined', iv: '0', writes: [], dels: [] },
  ];
  const [a, b] = decodePut(encodePut(parts), 2);
  const str = (l: Buffer[]): string[] => l.map((x) => x.toString('utf8'));
  assert.equal(a!.refresh, 1);
  assert.deepEqual(str(a!.lists[0]!), ['n', '1', 'cpu\u0000host=é', '1']);
  assert.deepEqual(a!.lists[1]!.map((x, i) => (i === 1 || i === 7 || i === 9 ? x : x.toString())), ['H', H, 'ls', '1700000040000', 'iv', '1000.5', 'HX', Buffer.from([9]), '1X5', chunk]);
  assert.deepEqual(str(a!.lists[2]!), ['1F2', '1X2']);
  assert.equal(b!.refresh, 0);
  assert.deepEqual(b!.lists.map(str), [[], ['H', '', 'ls', 'undefined', 'iv', '0'], []]);
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

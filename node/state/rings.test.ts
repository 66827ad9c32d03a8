import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingStore } from './rings.js';
import { PackedRecords } from './records.js';

const r = { fineStepMs: 1000, fineSpanMs: 10_000, coarseStepMs: 5000, coarseSpanMs: 60_000 };
const T0 = 1_800_000_000_000;

function buckets(s: RingStore, id: number, ring: 'fine' | 'coarse', from = 0, to = Number.MAX_SAFE_INTEGER): number[][] {
  const out: number[][] = [];
  s.visit(id, ring, from, to, (...b) => out.push(b));
  return out;
}

test('a single sample per bucket is stored compactly and read back', () => {
  const s = new RingStore(r);
  const id = s.allocate();
  s.write(id, T0 + 250, 7);
  assert.deepEqual(buckets(s, id, 'fine'), [[T0, 1, 7, 7, 7, 7, T0 + 250]]);
  assert.deepEqual(buckets(s, id, 'coarse'), [[T0, 1, 7, 7, 7, 7, T0 + 250]]);
});

test('several samples in a bucket: count/sum/min/max, last by timestamp (not arrival)', () => {
  const s = new RingStore(r);
  const id = s.allocate();
  s.write(id, T0 + 500, 5);
  s.write(id, T0 + 900, 9); // newest by ts
  s.write(id, T0 + 100, 1); // arrives late, older ts
  s.write(id, T0 + 700, 3);
  assert.deepEqual(buckets(s, id, 'fine'), [[T0, 4, 18, 1, 9, 9, T0 + 900]]);
  assert.deepEqual(buckets(s, id, 'coarse'), [[T0, 4, 18, 1, 9, 9, T0 + 900]]);
});

test('the ring laps: buckets older than the span vanish and never reappear as stale data', () => {
  const s = new RingStore(r);
  const id = s.allocate();
  for (let i = 0; i < 25; i++) s.write(id, T0 + i * 1000, i);
  const fine = buckets(s, id, 'fine');
  assert.equal(fine.length, 10);
  assert.deepEqual(fine.map((b) => b[5]), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  // A write older than the fine span is ignored by the fine ring but kept by the coarse one.
  s.write(id, T0 + 2000, 100);
  assert.equal(buckets(s, id, 'fine').length, 10);
  const coarse = buckets(s, id, 'coarse');
  assert.deepEqual(coarse.map((b) => b[1]), [6, 5, 5, 5, 5]);
  // A jump far ahead clears everything in between.
  s.write(id, T0 + 1_000_000, 1);
  assert.deepEqual(buckets(s, id, 'fine').map((b) => b[0]), [T0 + 1_000_000]);
});

test('overflow entries are recycled when slots are reused (no growth over time)', () => {
  const s = new RingStore(r);
  const id = s.allocate();
  for (let i = 0; i < 200; i++) {
    s.write(id, T0 + i * 1000, 1);
    s.write(id, T0 + i * 1000 + 1, 2);
  }
  const before = s.bytes();
  for (let i = 200; i < 2000; i++) {
    s.write(id, T0 + i * 1000, 1);
    s.write(id, T0 + i * 1000 + 1, 2);
  }
  assert.equal(s.bytes(), before);
  assert.deepEqual(buckets(s, id, 'fine').map((b) => b[1]), Array(10).fill(2));
});

test('series are independent and ids are reused after release', () => {
  const s = new RingStore(r);
  const a = s.allocate();
  const b = s.allocate();
  s.write(a, T0, 1);
  s.write(b, T0, 2);
  assert.equal(buckets(s, a, 'fine')[0]![5], 1);
  assert.equal(buckets(s, b, 'fine')[0]![5], 2);
  s.release(a);
  const c = s.allocate();
  assert.equal(c, a);
  assert.deepEqual(buckets(s, c, 'fine'), []);
  assert.equal(s.size, 2);
});

test('headBucket reports the newest fine bucket', () => {
  const s = new RingStore(r);
  const id = s.allocate();
  assert.equal(s.headBucket(id), undefined);
  s.write(id, T0 + 3000, 4);
  s.write(id, T0 + 3500, 6);
  assert.deepEqual(s.headBucket(id), [T0 + 3000, 2, 10, 4, 6, 6, T0 + 3500]);
});

test('multi-sample buckets past one overflow page keep their own values, and the pool grows by pages', () => {
  const s = new RingStore(r);
  const series = 2000; // × 10 fine slots = 20,000 overflow entries: more than one 16,384-entry page
  const ids = Array.from({ length: series }, () => s.allocate());
  const before = s.bytes();
  for (let sec = 0; sec < 10; sec++) {
    for (const [k, id] of ids.entries()) {
      s.write(id, T0 + sec * 1000 + 100, k + sec + 1);
      s.write(id, T0 + sec * 1000 + 600, -(k + sec + 1)); // newest by ts: last
    }
  }
  const grown = s.bytes() - before;
  assert.equal(grown, 2 * 16_384 * PackedRecords.BYTES, 'two pages of overflow records');
  for (const k of [0, 1637, 1638, 1999]) {
    const fine = buckets(s, ids[k]!, 'fine');
    assert.equal(fine.length, 10);
    fine.forEach((b, sec) => assert.deepEqual(b, [T0 + sec * 1000, 2, 0, -(k + sec + 1), k + sec + 1, -(k + sec + 1), T0 + sec * 1000 + 600]));
  }
  // Another lap of the ring recycles every entry: no further growth.
  for (let sec = 10; sec < 20; sec++) for (const id of ids) s.write(id, T0 + sec * 1000 + 1, 1), s.write(id, T0 + sec * 1000 + 2, 2);
  assert.equal(s.bytes() - before, grown);
});

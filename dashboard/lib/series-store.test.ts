import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoarseSeries, Field, SeriesBuffer, latestPoint, toColumns, type Point } from './series-store.js';

const P = (start: number, count: number, sum: number, last = sum / count): Point => [start, count, sum, last, last, last];

test('REST then live: overlap is merged by bucket, never double counted', () => {
  const s = new SeriesBuffer(1000);
  // Live arrives first (subscribed before the REST read), then the REST answer overlapping it.
  s.applyLive('', P(3000, 2, 20));
  s.applyRest([P(1000, 1, 5), P(2000, 1, 6), P(3000, 1, 10)]);
  assert.deepEqual(s.get(3000), P(3000, 2, 20), 'the fuller state wins, whatever order');
  s.applyLive('', P(3000, 3, 33));
  assert.equal(s.get(3000)![1], 3);
  s.applyLive('', P(3000, 2, 20)); // a late, older state of the same bucket
  assert.equal(s.get(3000)![1], 3, 'counts never regress');
  assert.deepEqual(toColumns([s], 1000, 4000, 1000, Field.Avg), [[1, 2, 3, 4], [5, 6, 11, null]]);
  assert.deepEqual(latestPoint(s), P(3000, 3, 33));
});

test('tag sets of one series are summed; REST (all tags) wins only while it has seen more', () => {
  const s = new SeriesBuffer(1000);
  s.applyRest([P(1000, 5, 50)]);
  s.applyLive('az=a', P(1000, 3, 30));
  assert.equal(s.get(1000)![1], 5);
  s.applyLive('az=b', P(1000, 3, 30));
  assert.equal(s.get(1000)![1], 6);
});

test('a live bucket past a hole in a dense series reports the hole for a REST refill', () => {
  const s = new SeriesBuffer(1000);
  s.applyRest([P(1000, 1, 1), P(2000, 1, 1), P(3000, 1, 1)]);
  assert.equal(s.applyLive('', P(4000, 1, 1)), undefined);
  assert.deepEqual(s.applyLive('', P(7000, 1, 1)), { holeFrom: 5000, holeTo: 6000 });
  const sparse = new SeriesBuffer(1000);
  sparse.applyRest([P(1000, 1, 1)]);
  assert.equal(sparse.applyLive('', P(11_000, 1, 1)), undefined, 'a source that reports every 10 s has no holes');
  s.trim(4000);
  assert.equal(s.has(3000), false);
  assert.equal(s.size, 2);
});

test('coarse ranges: old minutes from the coarse answer, recent minutes rebuilt from fine buckets', () => {
  const c = new CoarseSeries(60_000, 1000);
  // The coarse answer's last minute (120 000) was partial at read time; fine data from 120 000 on replaces it.
  c.applyRest([P(0, 60, 60), P(60_000, 60, 120), P(120_000, 10, 10)], [P(120_000, 1, 1), P(121_000, 1, 1)], 120_000);
  c.applyLive('', P(122_000, 1, 1));
  c.applyLive('', P(180_000, 1, 7));
  assert.deepEqual(c.get(60_000), P(60_000, 60, 120));
  assert.deepEqual(c.get(120_000), [120_000, 3, 3, 1, 1, 1]);
  assert.deepEqual(c.get(180_000), [180_000, 1, 7, 7, 7, 7]);
  assert.equal(c.newestStart(), 180_000);
  assert.deepEqual(toColumns([c], 0, 180_000, 60_000, Field.Avg), [[0, 60, 120, 180], [1, 2, 1, 7]]);
});

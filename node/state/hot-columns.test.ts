/** The typed columns behind the partition's per-sample fields: growth keeps values, indexes are reused, arrivals smooth. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesColumns, SeriesFlag, SourceColumns } from './hot-columns.js';

test('series columns grow to any id and keep what they held', () => {
  const c = new SeriesColumns();
  c.init(3, 7, true, 1_000);
  c.flags[3]! |= SeriesFlag.Dirty;
  c.init(100_000, 9, false, 2_000);
  assert.ok(c.flags.length > 100_000);
  assert.deepEqual([c.flags[3], c.source[3], c.receivedAt[3], c.isCounter(3)], [SeriesFlag.Counter | SeriesFlag.Dirty, 7, 1_000, true]);
  assert.deepEqual([c.flags[100_000], c.source[100_000], c.receivedAt[100_000], c.isCounter(100_000)], [0, 9, 2_000, false]);
  c.init(3, 1, false, 3_000); // an id reused by a new series starts clean
  assert.deepEqual([c.flags[3], c.source[3], c.receivedAt[3]], [0, 1, 3_000]);
});

test('source columns reuse released indexes and smooth the interval between arrivals', () => {
  const c = new SourceColumns();
  const a = c.allocate(10_000, 0);
  const b = c.allocate(10_000, 0);
  assert.notEqual(a, b);
  c.touch(a, 10_050, 200); // closer than the minimum: not an interval, lastSeen moves
  assert.deepEqual([c.lastSeen[a], c.intervalMs[a]], [10_050, 0]);
  c.touch(a, 11_050, 200);
  assert.equal(c.intervalMs[a], 1_000); // the first interval is taken as is
  c.touch(a, 13_050, 200);
  assert.equal(c.intervalMs[a], 0.8 * 1_000 + 0.2 * 2_000);
  c.touch(a, 12_000, 200); // an older arrival never moves lastSeen back
  assert.equal(c.lastSeen[a], 13_050);
  c.release(b);
  const again = c.allocate(5, 7);
  assert.equal(again, b);
  assert.deepEqual([c.lastSeen[again], c.intervalMs[again]], [5, 7]);
  for (let i = 0; i < 5_000; i++) c.allocate(i, 0);
  assert.equal(c.lastSeen[a], 13_050, 'growth keeps values');
});

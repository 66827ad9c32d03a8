import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIVE_LATENCY_BOUNDS, RollingHistogram, addCounts } from './rolling-histogram.js';

test('rolling histogram: buckets by upper bound, forgets after a minute', () => {
  const h = new RollingHistogram();
  h.observe(0.005, 0);
  h.observe(0.05, 1000);
  h.observe(100, 15_000);
  const s = h.snapshot(20_000);
  assert.equal(s.counts.length, LIVE_LATENCY_BOUNDS.length + 1);
  assert.equal(s.counts[0], 1);
  assert.equal(s.counts[LIVE_LATENCY_BOUNDS.indexOf(0.05)], 1);
  assert.equal(s.counts.at(-1), 1);
  assert.ok(Math.abs(s.sum - 100.055) < 1e-9);
  const later = h.snapshot(65_000);
  assert.equal(later.counts.reduce((a, b) => a + b, 0), 1, 'only the 15 s observation is within the last minute');
  assert.equal(h.snapshot(200_000).counts.reduce((a, b) => a + b, 0), 0);
  assert.deepEqual(addCounts([1, 2], [3, 4, 5]), [4, 6, 5]);
});

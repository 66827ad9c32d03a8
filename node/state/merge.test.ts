import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeMetrics, mergeSeries, mergeSources, mergeSummary, STALE_FLOOR_MS } from './merge.js';
import type { SummaryPartial, SummaryQuery } from './store.js';

const part = (source: string, last: number, extra: Partial<SummaryPartial> = {}): SummaryPartial => ({
  source, count: 1, sum: last, min: last, max: last, last, lastTs: 1000, rate: null, counter: false, ...extra,
});
const q: SummaryQuery = { metric: 'cpu', windowMs: 10_000, by: 'last', now: 0, ring: 'fine' };

test('summary merges partitions and ranks sources', () => {
  const a = [part('a', 1), part('b', 5)];
  const b = [part('c', 3), part('d', 5)];
  const s = mergeSummary([a, b], q, '10s');
  assert.equal(s.sources, 4);
  assert.equal(s.avg, 3.5);
  assert.equal(s.min, 1);
  assert.equal(s.max, 5);
  assert.equal(s.p50, 4);
  assert.deepEqual(s.top.map((t) => t.source), ['b', 'd', 'c', 'a']);
  assert.deepEqual(s.bottom.map((t) => t.source), ['a', 'c', 'b', 'd']);
});

test('summary: a source split over two partitions counts once, last by timestamp', () => {
  const s = mergeSummary([[part('a', 1, { lastTs: 5 })], [part('a', 9, { lastTs: 7 })]], q, '10s');
  assert.equal(s.sources, 1);
  assert.equal(s.max, 9);
  const avg = mergeSummary([[part('a', 1)], [part('a', 9)]], { ...q, by: 'avg' }, '10s');
  assert.equal(avg.avg, 5);
});

test('summary: counters contribute their rate; empty → nulls; top/bottom capped at 10', () => {
  const s = mergeSummary([[part('a', 100, { counter: true, rate: 2 }), part('b', 100, { counter: true, rate: null })]], q, '10s');
  assert.equal(s.sources, 1);
  assert.equal(s.avg, 2);
  const empty = mergeSummary([[]], q, '10s');
  assert.deepEqual([empty.sources, empty.avg, empty.p99, empty.top.length], [0, null, null, 0]);
  const many = mergeSummary([Array.from({ length: 30 }, (_, i) => part(`s${String(i).padStart(2, '0')}`, i))], q, '10s');
  assert.equal(many.top.length, 10);
  assert.equal(many.top[0]!.value, 29);
  assert.equal(many.bottom[0]!.value, 0);
});

test('series buckets merge field by field', () => {
  const ans = mergeSeries([[[1000, 2, 10, 4, 6, 6, 1500]], [[1000, 1, 1, 1, 1, 1, 1900], [2000, 1, 3, 3, 3, 3, 2000]]], { metric: 'm', source: 's', ring: 'fine', fromMs: 0, toMs: 3000, stepMs: 1000 });
  assert.deepEqual(ans.points, [[1000, 3, 11, 1, 6, 1], [2000, 1, 3, 3, 3, 3]]);
});

test('sources: stale after 3 intervals but never before the floor; metrics sum sources', () => {
  const now = 100_000;
  const s = mergeSources([[{ source: 'a', lastSeen: now - 5000, intervalMs: 1000, metrics: ['x'] }, { source: 'b', lastSeen: now - 5000, intervalMs: 0, metrics: ['y'] }], [{ source: 'a', lastSeen: now - 4000, intervalMs: 1000, metrics: ['z'] }]], now);
  assert.deepEqual(s.map((x) => [x.source, x.status, x.metrics.join()]), [['a', 'live', 'x,z'], ['b', 'live', 'y']]);
  const later = mergeSources([[{ source: 'a', lastSeen: now - STALE_FLOOR_MS - 1, intervalMs: 1000, metrics: [] }]], now);
  assert.equal(later[0]!.status, 'stale');
  const m = mergeMetrics([[{ metric: 'cpu', unit: '%', kind: 'gauge', updatedAt: 1, sources: 2 }], [{ metric: 'cpu', unit: 'pct', kind: 'gauge', updatedAt: 2, sources: 3 }]]);
  assert.deepEqual(m, [{ metric: 'cpu', unit: 'pct', kind: 'gauge', sources: 5 }]);
});

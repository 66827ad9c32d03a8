import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeUpdates } from './encode.js';
import type { BucketUpdate } from '../state/store.js';

const u = (metric: string, source: string, start: number, last: number, receivedAt: number, tags = ''): BucketUpdate =>
  ({ metric, source, tags, start, count: 1, sum: last, min: last, max: last, last, lastTs: start + 10, receivedAt });

test('encodeUpdates: one fleet message per watched metric, one series message per watched metric+source', () => {
  const ups = [u('cpu', 'a', 1000, 1, 5000), u('cpu', 'b', 1000, 2, 5100), u('mem', 'a', 1000, 3, 5200), u('cpu', 'a', 1000, 4, 4900, 'k=v')];
  const watched = new Set(['m|cpu', 's|cpu|a']);
  const enc = encodeUpdates(ups, (r) => watched.has(r), 1000, 6000);
  assert.equal(enc.fleet.length, 1);
  assert.deepEqual(enc.fleet[0], { k: 'fleet', room: 'm|cpu', metric: 'cpu', stepMs: 1000, source: ['a', 'b', 'a'], last: [1, 2, 4], starts: [1000, 3], recv: [4900, 5100], at: 6000 });
  assert.equal(enc.series.length, 1);
  const s = enc.series[0]!;
  assert.equal(s.room, 's|cpu|a');
  assert.deepEqual(s.tags, ['', 'k=v']);
  assert.deepEqual(s.last, [1, 4]);
  assert.deepEqual(s.recv, [4900, 5000]);
  // mem is watched by nobody: not emitted, not counted in the latency histogram.
  assert.deepEqual(enc.emittedReceivedAt, [5000, 5100, 4900]);
});

test('encodeUpdates: nothing watched, nothing emitted', () => {
  const enc = encodeUpdates([u('cpu', 'a', 0, 1, 1)], () => false, 1000, 2);
  assert.deepEqual(enc, { fleet: [], series: [], emittedReceivedAt: [] });
});

test('encodeUpdates: fleet entries are grouped by bucket start, the starts sent as runs in start order', () => {
  const ups = [u('cpu', 'a', 2000, 1, 1), u('cpu', 'b', 1000, 2, 1), u('cpu', 'c', 2000, 3, 1), u('cpu', 'd', 3000, 4, 1), u('cpu', 'e', 1000, 5, 1)];
  const [f] = encodeUpdates(ups, (r) => r === 'm|cpu', 1000, 2).fleet;
  assert.deepEqual(f!.starts, [1000, 2, 2000, 2, 3000, 1]);
  assert.deepEqual(f!.source, ['b', 'e', 'a', 'c', 'd']);
  assert.deepEqual(f!.last, [2, 5, 1, 3, 4]);
  // Every entry keeps its own start and value (the pairing survives the regrouping).
  const starts = [1000, 1000, 2000, 2000, 3000];
  const byEntry = new Map(f!.source.map((s, i) => [s, [starts[i], f!.last[i]]]));
  for (const x of ups) assert.deepEqual(byEntry.get(x.source), [x.start, x.last]);
});

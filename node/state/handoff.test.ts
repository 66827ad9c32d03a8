import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { emptyBatch, pushSample, SampleKind } from '../protocol/samples.js';
import { splitExport } from './handoff.js';
import { MemoryPartition } from './memory.js';
import { Ownership } from './ownership.js';
import { apply, opts, retention, samples, snapshot, SOURCES, T0 } from './partition.fixtures.js';

test('a partition handed over and merged equals one partition that got every sample (any split, any order)', () => {
  fc.assert(
    fc.property(samples, fc.integer({ min: 1, max: 400 }), (xs, chunkValues) => {
      const all = new MemoryPartition(retention, opts);
      const a = new MemoryPartition(retention, opts);
      const b = new MemoryPartition(retention, opts);
      xs.forEach((s, i) => {
        apply(all, s, T0 + i);
        apply(s.to === 0 ? a : b, s, T0 + i);
      });
      // Hand `a` over in small chunks, as a leaving worker does.
      let chunks = 0;
      while (!a.isEmpty) {
        b.importChunk(a.takeChunk(chunkValues, () => true));
        assert.ok(++chunks < 1000, 'handoff does not progress');
      }
      assert.equal(a.stats().series, 0);
      assert.deepEqual(snapshot(b), snapshot(all));
    }),
    { numRuns: 300 },
  );
});

test('rebalance moves only the sources the predicate names, with their stream sequence numbers', () => {
  const p = new MemoryPartition(retention, opts);
  const q = new MemoryPartition(retention, opts);
  for (const [i, source] of SOURCES.entries()) apply(p, { metric: 'cpu', source, tags: '', ts: T0 + i, value: i, to: 0 }, T0);
  p.setStreamSeq('s1', 7, T0);
  p.setStreamSeq('s2', 9, T0);
  q.setStreamSeq('s1', 11, T0); // the new owner already saw a higher seq: max wins
  const moves = (key: string): boolean => key === 'b' || key === 'd' || key === 'stream:s1';
  assert.equal(p.hasMoves(moves), true);
  q.importChunk(p.takeChunk(1_000_000, moves));
  assert.equal(p.hasMoves(moves), false);
  assert.deepEqual(p.sourcesPartial().map((s) => s.source).sort(), ['a', 'c']);
  assert.deepEqual(q.sourcesPartial().map((s) => s.source).sort(), ['b', 'd']);
  assert.deepEqual([p.streamSeq('s1', T0), p.streamSeq('s2', T0), q.streamSeq('s1', T0), q.streamSeq('s2', T0)], [0, 9, 11, 0]);
  assert.deepEqual(q.metricsPartial().map((m) => [m.metric, m.unit, m.sources]), [['cpu', '%', 2]]);
});

test('metric metadata keeps the newest unit and kind; a sealed partition refuses samples', () => {
  const old = new MemoryPartition(retention, opts);
  const fresh = new MemoryPartition(retention, opts);
  const b = emptyBatch();
  pushSample(b, 'net', 'x', 1, T0, 'bytes', SampleKind.Counter, '');
  old.apply(b, T0 + 5000);
  const c = emptyBatch();
  pushSample(c, 'net', 'y', 1, T0, 'B', SampleKind.Gauge, '');
  fresh.apply(c, T0);
  fresh.importChunk(old.takeChunk(1_000_000, () => true));
  assert.deepEqual(fresh.metricsPartial().map((m) => [m.metric, m.unit, m.kind, m.sources]), [['net', 'bytes', 'counter', 2]]);
  assert.equal(old.isEmpty, true);
  old.seal();
  assert.throws(() => old.apply(c, T0), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.STATE_UNAVAILABLE);
  // Live updates never report a handed-off series.
  assert.deepEqual(old.drainUpdates(), []);
});

test('splitExport sends each source (and stream id) to its owner with the metric metadata it needs', () => {
  const p = new MemoryPartition(retention, opts);
  for (let i = 0; i < 40; i++) apply(p, { metric: i % 2 === 0 ? 'cpu' : 'mem', source: `h${i}`, tags: '', ts: T0, value: i, to: 0 }, T0);
  p.setStreamSeq('st', 3, T0);
  const own = new Ownership([0, 2, 5], 9100);
  const parts = splitExport(p.takeChunk(1_000_000, () => true), own);
  let n = 0;
  for (const [slot, x] of parts) {
    for (const s of x.series) assert.equal(own.ownerOf(s.source), slot);
    for (const s of x.sources) assert.equal(own.ownerOf(s.source), slot);
    for (const s of x.streamSeqs) assert.equal(own.ownerOf('stream:' + s.id), slot);
    assert.deepEqual(x.metrics.map((m) => m.metric).sort(), [...new Set(x.series.map((s) => s.metric))].sort());
    n += x.series.length;
  }
  assert.equal(n, 40);
  assert.ok(parts.size >= 2);
});

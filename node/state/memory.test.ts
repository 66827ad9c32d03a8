import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { emptyBatch, materialize, pushSample, SampleKind, type SampleBatch } from '../protocol/samples.js';
import { processNames } from '../protocol/interner.js';
import { MemoryPartition, MemoryStateStore } from './memory.js';
import { opts, retention, samples, snapshot, SOURCES, T0 } from './partition.fixtures.js';
import { storeContract } from './store.contract.js';

storeContract('memory', async (o) => new MemoryStateStore(o.retention, { maxSeries: o.maxSeries, streamSeqTtlMs: o.streamSeqTtlMs }, o.now));

test('a partition applying a view of a batch equals one applying the view\'s samples as a batch of their own', () => {
  fc.assert(
    fc.property(samples, (xs) => {
      const whole = emptyBatch();
      for (const s of xs) pushSample(whole, s.metric, s.source, s.value, s.ts, '%', SampleKind.Gauge, s.tags);
      // The samples marked for partition 1, as a split by owner would hand them on.
      const index = Int32Array.from(xs.flatMap((s, i) => (s.to === 1 ? [i] : [])));
      const viaView = new MemoryPartition(retention, opts);
      const viaCopy = new MemoryPartition(retention, opts);
      viaView.apply(whole, T0, index);
      viaCopy.apply(materialize({ batch: whole, index }), T0);
      assert.deepEqual(snapshot(viaView), snapshot(viaCopy));
      assert.equal(viaView.stats().series, new Set(xs.filter((s) => s.to === 1).map((s) => `${s.metric}|${s.source}|${s.tags}`)).size);
    }),
    { numRuns: 300 },
  );
});

test('series found by source id equal series found by the Maps, through handoffs that free ids for reuse; ids of another generation are ignored (property)', () => {
  const withIds = (b: SampleBatch, generation: number): SampleBatch => ({ ...b, sourceIds: { generation, ids: Int32Array.from(b.source, (s) => processNames.id(s)) } });
  fc.assert(
    fc.property(fc.array(fc.record({ xs: samples, moves: fc.option(fc.constantFrom(...SOURCES), { nil: undefined }) }), { maxLength: 6 }), (rounds) => {
      const byMap = new MemoryPartition(retention, opts);
      const byId = new MemoryPartition(retention, opts);
      const stale = new MemoryPartition(retention, opts);
      for (const { xs, moves } of rounds) {
        const b = emptyBatch();
        for (const s of xs) pushSample(b, s.metric, s.source, s.value, s.ts, '%', SampleKind.Gauge, s.tags);
        byMap.apply(b, T0);
        byId.apply(withIds(b, processNames.generation), T0);
        stale.apply(withIds(b, processNames.generation + 1), T0);
        // A handoff removes a source's series; their ids go to the next new series.
        if (moves !== undefined) for (const p of [byMap, byId, stale]) p.takeChunk(Number.POSITIVE_INFINITY, (key) => key === moves);
        assert.deepEqual(snapshot(byId), snapshot(byMap));
        assert.deepEqual(snapshot(stale), snapshot(byMap));
      }
    }),
    { numRuns: 300 },
  );
});

test('the series limit counts only the samples of the view', () => {
  const b = emptyBatch();
  for (let i = 0; i < 10; i++) pushSample(b, 'cpu', `s-${i}`, i, T0, '%', SampleKind.Gauge, '');
  const p = new MemoryPartition(retention, { ...opts, maxSeries: 3 });
  p.apply(b, T0, Int32Array.from([1, 4, 7]));
  assert.equal(p.stats().series, 3);
  assert.throws(() => p.apply(b, T0, Int32Array.from([2])), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.SERIES_LIMIT);
  assert.equal(p.stats().series, 3, 'a refused view writes nothing');
  p.apply(b, T0 + 1000, Int32Array.from([4, 7]));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatBatches, emptyBatch, pushSample, SampleKind, type SampleBatch } from './samples.js';

function batch(sources: string[], ids?: { generation: number; ids: number[] }): SampleBatch {
  const b = emptyBatch();
  for (const s of sources) pushSample(b, 'cpu', s, 1, 1000, '%', SampleKind.Gauge, '');
  if (ids !== undefined) b.sourceIds = { generation: ids.generation, ids: Int32Array.from(ids.ids) };
  return b;
}

test('concatBatches: samples in order, and source ids kept when every batch has them of one generation', () => {
  const out = concatBatches([batch(['a', 'b'], { generation: 3, ids: [7, 8] }), batch(['c'], { generation: 3, ids: [9] })]);
  assert.deepEqual(out.source, ['a', 'b', 'c']);
  assert.equal(out.length, 3);
  assert.deepEqual(out.sourceIds, { generation: 3, ids: Int32Array.from([7, 8, 9]) });
  assert.equal(out.owners, undefined, 'owner hints are per membership: dropped');
});

test('concatBatches: no source ids when one batch has none or another generation\'s (consumers fall back to the names)', () => {
  assert.equal(concatBatches([batch(['a'], { generation: 3, ids: [7] }), batch(['b'])]).sourceIds, undefined);
  assert.equal(concatBatches([batch(['a'], { generation: 3, ids: [7] }), batch(['b'], { generation: 4, ids: [1] })]).sourceIds, undefined);
  // Scratch-sized id arrays (longer than the batch) contribute only their batch's part.
  const long = batch(['x'], { generation: 1, ids: [5, 99, 99] });
  assert.deepEqual(concatBatches([long, batch(['y'], { generation: 1, ids: [6] })]).sourceIds!.ids, Int32Array.from([5, 6]));
});

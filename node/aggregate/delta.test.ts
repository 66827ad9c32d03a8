/**
 * DeltaBuilder's bucket lists: one entry per bucket whatever the arrival order, also past the
 * length where lookups switch from a scan to a map and past the size its records started with
 * (checked against a plain per-bucket fold).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketsOf, DeltaBuilder, type BucketDelta } from './delta.js';
import { emptyBatch, pushSample, SampleKind } from '../protocol/samples.js';

const R = { fineStepMs: 1000, fineSpanMs: 600_000, coarseStepMs: 60_000, coarseSpanMs: 21_600_000 };
const T = 1_700_000_040_000;

/** Deterministic pseudo-random order (LCG), so a failure reproduces. */
function shuffled<X>(xs: X[], seed: number): X[] {
  const out = [...xs];
  let r = seed;
  for (let i = out.length - 1; i > 0; i--) {
    r = (r * 1103515245 + 12345) % 2 ** 31;
    const j = r % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The reference: fold by bucket in a Map, arrival order deciding `last` ties. */
function reference(samples: ReadonlyArray<[number, number]>, step: number, offUnit: number): BucketDelta[] {
  const m = new Map<number, BucketDelta>();
  for (const [ts, v] of samples) {
    const b = Math.floor(ts / step);
    const off = Math.floor((ts - b * step) / offUnit);
    const cur = m.get(b);
    if (cur === undefined) m.set(b, { b, count: 1, sum: v, min: v, max: v, last: v, off });
    else {
      cur.count++;
      cur.sum += v;
      cur.min = Math.min(cur.min, v);
      cur.max = Math.max(cur.max, v);
      if (off >= cur.off) [cur.last, cur.off] = [v, off];
    }
  }
  return [...m.values()];
}

test('bucket lists: one entry per bucket in first-arrival order, over few and many buckets, any order', () => {
  for (const [buckets, seed] of [[1, 1], [5, 2], [9, 3], [10, 4], [40, 5], [300, 6]] as const) {
    // Two to three samples per fine bucket over `buckets` seconds, shuffled, in two applies.
    const samples: Array<[number, number]> = [];
    for (let i = 0; i < buckets; i++) for (let k = 0; k < 2 + (i % 2); k++) samples.push([T + i * 1000 + k * 100 + (i % 7), i * 4 + k]);
    const order = shuffled(samples, seed);
    const builder = new DeltaBuilder(R);
    for (const part of [order.slice(0, order.length >> 1), order.slice(order.length >> 1)]) {
      const b = emptyBatch();
      for (const [ts, v] of part) pushSample(b, 'cpu', 'a', v, ts, '', SampleKind.Gauge, '');
      builder.add(b, T);
    }
    const src = builder.take().sources.get('a')!;
    const sr = src.series.get('cpu\u0000')!;
    assert.deepEqual(bucketsOf(src.buckets, sr, 'fine'), reference(order, 1000, 1), `${buckets} fine buckets`);
    assert.deepEqual(bucketsOf(src.buckets, sr, 'coarse'), reference(order, 60_000, 1), `${buckets} s in coarse buckets`);
  }
});

test('sources: in order of first appearance, with the first and last add() that had samples of them', () => {
  const builder = new DeltaBuilder(R);
  const batch = (sources: string[]): ReturnType<typeof emptyBatch> => {
    const b = emptyBatch();
    for (const s of sources) pushSample(b, 'cpu', s, 1, T, '', SampleKind.Gauge, '');
    return b;
  };
  builder.add(batch(['a', 'b']), T);
  builder.add(batch(['c']), T);
  builder.add(batch(['a', 'd']), T);
  const spans = [...builder.take().sources.values()].map((s) => [s.source, s.firstAdd, s.lastAdd]);
  assert.deepEqual(spans, [['a', 0, 2], ['b', 0, 0], ['c', 1, 1], ['d', 2, 2]]);
  builder.add(batch(['x']), T);
  assert.deepEqual([...builder.take().sources.values()].map((s) => [s.source, s.firstAdd, s.lastAdd]), [['x', 0, 0]], 'counted per delta');
});

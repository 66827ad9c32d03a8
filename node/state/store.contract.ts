/**
 * The StateStore contract (STYLE.md §7): one suite, run against every implementation —
 * memory.test.ts (MemoryStateStore) and redis.test.ts (RedisStateStore on a real redis-server).
 * Same inputs, same expected answers, so both stores answer identically.
 *
 * Values are multiples of 1/4 so sums are exact whatever order a store adds them in (a store that
 * pre-aggregates may add in another order; float addition is not associative).
 * Times are near the real clock: Redis expires keys by its own clock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetentionConfig } from '../config/schema.js';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { emptyBatch, pushSample, SampleKind, TAG_SEPARATOR, type SampleBatch } from '../protocol/samples.js';
import type { BucketUpdate, StateStore, SummaryQuery } from './store.js';

export interface ContractStoreOptions {
  retention: RetentionConfig;
  maxSeries: number;
  streamSeqTtlMs: number;
  now: () => number;
}

export type MakeStore = (o: ContractStoreOptions) => Promise<StateStore>;

export const DEFAULT_RETENTION: RetentionConfig = { fineStepMs: 1000, fineSpanMs: 600_000, coarseStepMs: 60_000, coarseSpanMs: 6 * 3_600_000 };
/** A tiny retention so tests can lap the rings: 10 fine buckets of 1 s, 12 coarse of 5 s. */
export const SMALL_RETENTION: RetentionConfig = { fineStepMs: 1000, fineSpanMs: 10_000, coarseStepMs: 5000, coarseSpanMs: 60_000 };

export interface S {
  source: string;
  metric: string;
  value: number;
  ts: number;
  unit?: string;
  kind?: 'gauge' | 'counter';
  tags?: Record<string, string>;
}

export function canonicalTags(tags: Record<string, string> | undefined): string {
  if (tags === undefined) return '';
  return Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(TAG_SEPARATOR);
}

export function batchOf(samples: readonly S[]): SampleBatch {
  const b = emptyBatch();
  for (const s of samples) {
    pushSample(b, s.metric, s.source, s.value, s.ts, s.unit ?? '', s.kind === 'counter' ? SampleKind.Counter : SampleKind.Gauge, canonicalTags(s.tags));
  }
  return b;
}

/** A clock tests move by hand. */
export function manualClock(start: number): { now: () => number; set(t: number): void } {
  let t = start;
  return { now: () => t, set: (v) => void (t = v) };
}

/** A bucket-aligned time a little in the past (so rings and expiries behave as in production). */
export function baseTime(alignMs = 60_000): number {
  return Math.floor((Date.now() - 2 * alignMs) / alignMs) * alignMs;
}

export function storeContract(name: string, make: MakeStore): void {
  describe(`StateStore contract: ${name}`, () => {
    const open = async (t: { after(fn: () => Promise<void>): void }, o: Partial<ContractStoreOptions> = {}): Promise<StateStore> => {
      const store = await make({ retention: DEFAULT_RETENTION, maxSeries: 1000, streamSeqTtlMs: 900_000, now: Date.now, ...o });
      t.after(() => store.close());
      return store;
    };

    test('series: count/sum/min/max per bucket; last by ts, a tie goes to the later arrival', async (t) => {
      const T = baseTime();
      const store = await open(t);
      await store.apply(batchOf([
        { source: 'web-01', metric: 'cpu', value: 1, ts: T + 100 },
        { source: 'web-01', metric: 'cpu', value: 3, ts: T + 900 },
        { source: 'web-01', metric: 'cpu', value: 2, ts: T + 500 },
        { source: 'web-01', metric: 'cpu', value: 4, ts: T + 1500 },
      ]), T + 2000);
      await store.apply(batchOf([{ source: 'web-01', metric: 'cpu', value: 5.25, ts: T + 1500 }, { source: 'web-01', metric: 'cpu', value: -0.5, ts: T + 1200 }]), T + 2100);
      await store.apply(batchOf([{ source: 'web-01', metric: 'cpu', value: 7, ts: T + 4000 }]), T + 4100);
      const q = { metric: 'cpu', source: 'web-01', ring: 'fine' as const, fromMs: T - 5000, toMs: T + 10_000, stepMs: 1000 };
      assert.deepEqual(await store.series(q), {
        metric: 'cpu', source: 'web-01', step: 1000,
        points: [[T, 3, 6, 1, 3, 3], [T + 1000, 3, 8.75, -0.5, 5.25, 5.25], [T + 4000, 1, 7, 7, 7, 7]],
      });
      const wide = await store.series({ ...q, stepMs: 2000, fromMs: T });
      assert.deepEqual(wide.points, [[T, 6, 14.75, -0.5, 5.25, 5.25], [T + 4000, 1, 7, 7, 7, 7]]);
      const coarse = await store.series({ ...q, ring: 'coarse', stepMs: 60_000, fromMs: T - 60_000 });
      assert.deepEqual(coarse.points, [[T, 7, 21.75, -0.5, 7, 7]]);
      assert.deepEqual((await store.series({ ...q, metric: 'nope' })).points, []);
      assert.deepEqual((await store.series({ ...q, source: 'web-02' })).points, []);
      assert.deepEqual((await store.series({ ...q, fromMs: T + 2000, toMs: T + 3999 })).points, []);
    });

    test('rings: the fine ring keeps N buckets behind its newest; older samples still reach the coarse ring', async (t) => {
      const T = baseTime(5000); // SMALL_RETENTION expires keys quickly: stay near now
      const store = await open(t, { retention: SMALL_RETENTION });
      const q = { metric: 'm', source: 'a', ring: 'fine' as const, fromMs: T - 100_000, toMs: T + 100_000, stepMs: 1000 };
      const samples: S[] = [];
      for (let i = 0; i < 8; i++) samples.push({ source: 'a', metric: 'm', value: i, ts: T + i * 1000 });
      await store.apply(batchOf(samples), T);
      // Jump 15 buckets ahead: buckets ≤ 15 - 10 = 5 fall out of the fine ring.
      await store.apply(batchOf([{ source: 'a', metric: 'm', value: 100, ts: T + 15_000 }]), T + 1);
      assert.deepEqual((await store.series(q)).points.map((p) => p[0]), [T + 6000, T + 7000, T + 15_000]);
      // Too old for the fine ring now (bucket 3 ≤ 15 - 10), fine for the coarse one; bucket 9 is in.
      await store.apply(batchOf([{ source: 'a', metric: 'm', value: 50, ts: T + 3000 }, { source: 'a', metric: 'm', value: 9, ts: T + 9000 }]), T + 2);
      assert.deepEqual((await store.series(q)).points.map((p) => p[0]), [T + 6000, T + 7000, T + 9000, T + 15_000]);
      const coarse = await store.series({ ...q, ring: 'coarse', stepMs: 5000 });
      assert.deepEqual(coarse.points, [[T, 6, 60, 0, 50, 4], [T + 5000, 4, 27, 5, 9, 9], [T + 15_000, 1, 100, 100, 100, 100]]);
      // A far jump empties the fine ring except the new bucket, and laps the coarse ring.
      await store.apply(batchOf([{ source: 'a', metric: 'm', value: 1, ts: T + 80_000 }]), T + 3);
      assert.deepEqual((await store.series(q)).points, [[T + 80_000, 1, 1, 1, 1, 1]]);
      assert.deepEqual((await store.series({ ...q, ring: 'coarse', stepMs: 5000 })).points, [[T + 80_000, 1, 1, 1, 1, 1]]);
    });

    test('tags: one tag set, or every tag set of the source merged', async (t) => {
      const T = baseTime();
      const store = await open(t);
      await store.apply(batchOf([
        { source: 'db-1', metric: 'disk', value: 10, ts: T + 10, tags: { dev: 'sda' } },
        { source: 'db-1', metric: 'disk', value: 20, ts: T + 20, tags: { dev: 'sdb', mount: '/' } },
        { source: 'db-1', metric: 'disk', value: 30, ts: T + 5, tags: {} },
        { source: 'db-10', metric: 'disk', value: 99, ts: T + 30, tags: { dev: 'sda' } },
      ]), T + 100);
      const q = { metric: 'disk', source: 'db-1', ring: 'fine' as const, fromMs: T, toMs: T + 1000, stepMs: 1000 };
      assert.deepEqual((await store.series({ ...q, tags: canonicalTags({ dev: 'sda' }) })).points, [[T, 1, 10, 10, 10, 10]]);
      assert.deepEqual((await store.series({ ...q, tags: '' })).points, [[T, 1, 30, 30, 30, 30]]);
      assert.deepEqual((await store.series({ ...q, tags: canonicalTags({ dev: 'sdc' }) })).points, []);
      assert.deepEqual((await store.series(q)).points, [[T, 3, 60, 10, 30, 20]]);
    });

    test('sources: lastSeen, live/stale from the usual interval, metrics', async (t) => {
      const T = baseTime();
      const store = await open(t);
      for (let i = 0; i < 3; i++) {
        await store.apply(batchOf([{ source: 'fast', metric: 'cpu', value: i, ts: T + i * 1000 }, { source: 'fast', metric: 'mem', value: 1, ts: T + i * 1000 }]), T + i * 1000);
        // A second request 50 ms later is the same burst, not a new interval.
        await store.apply(batchOf([{ source: 'fast', metric: 'load', value: 1, ts: T + i * 1000 }]), T + i * 1000 + 50);
      }
      for (let i = 0; i < 3; i++) await store.apply(batchOf([{ source: 'slow', metric: 'cpu', value: i, ts: T + i * 5000 }]), T + i * 5000);
      const at = async (now: number): Promise<unknown> => (await store.sources(now)).map((s) => [s.source, s.lastSeen, s.status, s.metrics]);
      assert.deepEqual(await at(T + 12_000), [['fast', T + 2050, 'live', ['cpu', 'load', 'mem']], ['slow', T + 10_000, 'live', ['cpu']]]);
      // fast: 3 × ~1 s interval < 10 s floor → stale after 10 s; slow: 3 × 5 s = 15 s.
      assert.deepEqual(await at(T + 2050 + 10_001), [['fast', T + 2050, 'stale', ['cpu', 'load', 'mem']], ['slow', T + 10_000, 'live', ['cpu']]]);
      assert.deepEqual(await at(T + 10_000 + 15_001), [['fast', T + 2050, 'stale', ['cpu', 'load', 'mem']], ['slow', T + 10_000, 'stale', ['cpu']]]);
    });

    test('metrics: unit and kind follow the newest change; sources are counted', async (t) => {
      const T = baseTime();
      const store = await open(t);
      await store.apply(batchOf([
        { source: 'a', metric: 'cpu', value: 1, ts: T, unit: '%' },
        { source: 'b', metric: 'cpu', value: 1, ts: T },
        { source: 'b', metric: 'cpu', value: 1, ts: T, tags: { core: '1' } },
        { source: 'a', metric: 'req', value: 5, ts: T, kind: 'counter' },
        { source: 'a', metric: 'temp', value: 5, ts: T },
      ]), T);
      await store.apply(batchOf([{ source: 'c', metric: 'temp', value: 5, ts: T, unit: 'C' }, { source: 'c', metric: 'temp', value: 5, ts: T + 1, unit: 'F' }]), T + 10);
      assert.deepEqual(await store.metrics(), [
        { metric: 'cpu', unit: '%', kind: 'gauge', sources: 2 },
        { metric: 'req', unit: '', kind: 'counter', sources: 1 },
        { metric: 'temp', unit: 'F', kind: 'gauge', sources: 2 },
      ]);
    });

    test('summary: one value per source (last/avg/max, counters as rates), quantiles, top and bottom', async (t) => {
      const T = baseTime();
      const clock = manualClock(T + 10_000);
      const store = await open(t, { now: clock.now });
      const samples: S[] = [];
      for (let i = 0; i < 12; i++) {
        const src = `s${String(i).padStart(2, '0')}`;
        samples.push({ source: src, metric: 'cpu', value: i % 5, ts: T + 5000 });
        samples.push({ source: src, metric: 'cpu', value: 10 + (i % 3), ts: T + 7000 });
        samples.push({ source: src, metric: 'cpu', value: 50, ts: T - 30_000 }); // outside a 10 s window
      }
      // A counter with a reset: increases 10, 10, then 5 (reset to 5), over 6 s → 25 / 6 per second.
      for (const [dt, v] of [[2000, 100], [4000, 110], [6000, 120], [8000, 5]] as const) samples.push({ source: 'c1', metric: 'reqs', value: v, ts: T + dt, kind: 'counter' });
      samples.push({ source: 'c1', metric: 'reqs', value: 7, ts: T + 2000, kind: 'counter', tags: { path: '/b' } });
      samples.push({ source: 'c1', metric: 'reqs', value: 9, ts: T + 4000, kind: 'counter', tags: { path: '/b' } });
      await store.apply(batchOf(samples), T + 9000);
      const q: SummaryQuery = { metric: 'cpu', windowMs: 10_000, by: 'last', now: T + 10_000, ring: 'fine' };
      const last = await store.summary(q, '10s');
      assert.equal(last.sources, 12);
      assert.equal(last.min, 10);
      assert.equal(last.max, 12);
      assert.equal(last.avg, 11);
      assert.equal(last.p50, 11);
      assert.equal(last.p90, 12);
      assert.deepEqual(last.top.slice(0, 4), [{ source: 's02', value: 12 }, { source: 's05', value: 12 }, { source: 's08', value: 12 }, { source: 's11', value: 12 }]);
      assert.deepEqual(last.bottom.slice(0, 2), [{ source: 's00', value: 10 }, { source: 's03', value: 10 }]);
      assert.equal(last.top.length, 10);
      const avg = await store.summary({ ...q, by: 'avg' }, '10s');
      assert.deepEqual(avg.bottom[0], { source: 's00', value: 5 });
      const max = await store.summary({ ...q, by: 'max', windowMs: 60_000 }, '1m');
      assert.equal(max.max, 50);
      const rate = await store.summary({ ...q, metric: 'reqs' }, '10s');
      assert.equal(rate.sources, 1);
      assert.equal(rate.avg, 25 / 6 + 1);
      const coarse = await store.summary({ ...q, windowMs: 3_600_000, ring: 'coarse' }, '1h');
      assert.equal(coarse.sources, 12);
      assert.deepEqual(await store.summary({ ...q, metric: 'nope' }, '10s'), { metric: 'nope', window: '10s', by: 'last', sources: 0, avg: null, min: null, max: null, p50: null, p90: null, p99: null, top: [], bottom: [] });
    });

    test('stream seq: unknown is 0, never lowered', async (t) => {
      const store = await open(t);
      assert.equal(await store.streamSeq('agent-1'), 0);
      await store.setStreamSeq('agent-1', 5);
      await store.setStreamSeq('agent-1', 3);
      assert.equal(await store.streamSeq('agent-1'), 5);
      await store.setStreamSeq('agent-1', 9_007_199_254_740);
      assert.equal(await store.streamSeq('agent-1'), 9_007_199_254_740);
      assert.equal(await store.streamSeq('agent-2'), 0);
    });

    test('series limit: a batch that would pass it is rejected whole, known series still accepted', async (t) => {
      const T = baseTime();
      const store = await open(t, { maxSeries: 3 });
      await store.apply(batchOf([{ source: 'a', metric: 'x', value: 1, ts: T }, { source: 'a', metric: 'y', value: 1, ts: T }]), T);
      await assert.rejects(
        store.apply(batchOf([{ source: 'a', metric: 'x', value: 2, ts: T }, { source: 'b', metric: 'x', value: 1, ts: T }, { source: 'c', metric: 'x', value: 1, ts: T }]), T + 1),
        (err: unknown) => err instanceof FleetPulseError && err.code === ErrorCode.SERIES_LIMIT,
      );
      const q = { metric: 'x', source: 'a', ring: 'fine' as const, fromMs: T, toMs: T + 1000, stepMs: 1000 };
      assert.deepEqual((await store.series(q)).points, [[T, 1, 1, 1, 1, 1]], 'nothing of the rejected batch was applied');
      await store.apply(batchOf([{ source: 'a', metric: 'x', value: 3, ts: T }, { source: 'b', metric: 'x', value: 1, ts: T }]), T + 2);
      assert.deepEqual((await store.series(q)).points, [[T, 2, 4, 1, 3, 3]]);
      assert.deepEqual((await store.sources(T + 3)).map((s) => s.source), ['a', 'b']);
    });

    test('drainUpdates: the newest fine bucket of every series written since the last call', async (t) => {
      const T = baseTime();
      const store = await open(t);
      await store.drainUpdates();
      await store.apply(batchOf([
        { source: 'a', metric: 'cpu', value: 1, ts: T + 100 },
        { source: 'a', metric: 'cpu', value: 2, ts: T + 1100 },
        { source: 'a', metric: 'cpu', value: 3, ts: T + 1200, tags: { core: '0' } },
      ]), T + 1300);
      await store.apply(batchOf([{ source: 'a', metric: 'cpu', value: 5, ts: T + 1050 }, { source: 'b', metric: 'mem', value: 8, ts: T + 50 }]), T + 1400);
      const sorted = (u: BucketUpdate[]): BucketUpdate[] => [...u].sort((x, y) => (x.source + x.tags < y.source + y.tags ? -1 : 1));
      assert.deepEqual(sorted(await store.drainUpdates()), [
        { metric: 'cpu', source: 'a', tags: '', start: T + 1000, count: 2, sum: 7, min: 2, max: 5, last: 2, lastTs: T + 1100, receivedAt: T + 1400 },
        { metric: 'cpu', source: 'a', tags: 'core=0', start: T + 1000, count: 1, sum: 3, min: 3, max: 3, last: 3, lastTs: T + 1200, receivedAt: T + 1300 },
        { metric: 'mem', source: 'b', tags: '', start: T, count: 1, sum: 8, min: 8, max: 8, last: 8, lastTs: T + 50, receivedAt: T + 1400 },
      ]);
      assert.deepEqual(await store.drainUpdates(), []);
    });
  });
}

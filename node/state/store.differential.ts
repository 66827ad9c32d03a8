/**
 * Differential check for StateStore implementations: a seeded random workload (late and future
 * samples, ring laps, tag sets, counters with resets, unit/kind changes, bursts) applied to the
 * memory store and to another store, then every query compared for deep equality.
 * Used by redis.test.ts (standalone) and the Redis Cluster integration test.
 */
import assert from 'node:assert/strict';
import type { RetentionConfig } from '../config/schema.js';
import { prng } from '../agent/shapes.js';
import { MemoryStateStore } from './memory.js';
import { batchOf, canonicalTags, type S } from './store.contract.js';
import type { BucketUpdate, StateStore, SummaryBy } from './store.js';

export interface Workload {
  batches: Array<{ samples: S[]; receivedAt: number }>;
  sources: string[];
  metrics: string[];
  tagSets: Array<Record<string, string> | undefined>;
  lastReceivedAt: number;
}

const TAG_SETS: Array<Record<string, string> | undefined> = [undefined, { k: 'a' }, { k: 'b', z: 'x' }];

/**
 * `batches` batches over `sources` sources starting at T (ms). Sample times drift forward with
 * the receive clock, with occasional late ones (up to `lateMs` back) and jumps ahead.
 */
export function makeWorkload(seed: number, T: number, o: { batches: number; sources: number; lateMs: number; uniqueTs?: boolean; kindFlips?: boolean }): Workload {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const sources = Array.from({ length: o.sources }, (_, i) => `src-${i}`);
  const metrics = ['cpu', 'mem', 'disk', 'reqs'];
  const units = ['%', '', 'pct'];
  const counters = new Map<string, number>();
  const used = new Set<string>();
  let received = T;
  const batches: Workload['batches'] = [];
  for (let b = 0; b < o.batches; b++) {
    received += int(4) === 0 ? int(60) : int(1500);
    const n = 1 + int(40);
    const samples: S[] = [];
    for (let i = 0; i < n; i++) {
      const source = sources[int(sources.length)]!;
      const metric = metrics[int(metrics.length)]!;
      const tags = TAG_SETS[int(TAG_SETS.length)];
      let ts = received - int(3000);
      const r = rnd();
      if (r < 0.08) ts = received - int(o.lateMs);
      else if (r < 0.1) ts = received + int(20_000);
      if (o.uniqueTs === true) {
        const key = `${source}|${metric}|${canonicalTags(tags)}|`;
        while (used.has(key + ts)) ts++;
        used.add(key + ts);
      }
      const s: S = { source, metric, value: (int(801) - 400) / 4, ts };
      if (tags !== undefined) s.tags = tags;
      if (metric === 'reqs') {
        const k = `${source}|${canonicalTags(tags)}`;
        const v = int(20) === 0 ? int(10) : (counters.get(k) ?? 0) + int(50);
        counters.set(k, v);
        s.value = v;
        s.kind = 'counter';
      } else if (metric === 'disk' && o.kindFlips !== false && int(10) === 0) {
        s.kind = 'counter'; // a metric whose kind flips now and then
      }
      if (metric === 'mem') s.unit = units[int(units.length)]!;
      samples.push(s);
    }
    batches.push({ samples, receivedAt: received });
  }
  return { batches, sources, metrics, tagSets: TAG_SETS, lastReceivedAt: received };
}

export function memoryReference(r: RetentionConfig, maxSeries = 100_000): MemoryStateStore {
  return new MemoryStateStore(r, { maxSeries, streamSeqTtlMs: 900_000 }, Date.now);
}

const sortUpdates = (u: BucketUpdate[]): BucketUpdate[] => [...u].sort((a, b) => {
  const ka = `${a.source}|${a.metric}|${a.tags}`;
  const kb = `${b.source}|${b.metric}|${b.tags}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
});

export interface CompareOptions {
  /** Compare sources' status/interval (needs the same apply order in both stores). */
  strictSources?: boolean;
  drainUpdates?: boolean;
  /** Compare metrics' unit/kind (needs the same apply order). */
  strictMetrics?: boolean;
  /**
   * Compare summaries to 12 significant digits: with concurrent writers a source's tag sets are
   * created in another order, and their counter rates (not exact binary fractions) are added in
   * that order, which can change the last bit.
   */
  roundSummaries?: boolean;
}

function round12(x: unknown): unknown {
  if (typeof x === 'number') return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(12)) : x;
  if (Array.isArray(x)) return x.map(round12);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round12(v)]));
  return x;
}

/** Every query of `w` on both stores must be deeply equal. */
export async function compareStores(ref: StateStore, other: StateStore, w: Workload, r: RetentionConfig, o: CompareOptions = {}): Promise<number> {
  let checks = 0;
  const eq = (a: unknown, b: unknown, what: string): void => {
    assert.deepEqual(b, a, `${what} differs from the memory store`);
    checks++;
  };
  const now = w.lastReceivedAt;
  for (const t of [now, now + 5000, now + 30_000]) {
    const [a, b] = [await ref.sources(t), await other.sources(t)];
    if (o.strictSources === false) eq(a.map((s) => [s.source, s.lastSeen, s.metrics]), b.map((s) => [s.source, s.lastSeen, s.metrics]), `sources(${t - now})`);
    else eq(a, b, `sources(${t - now})`);
  }
  const [ma, mb] = [await ref.metrics(), await other.metrics()];
  if (o.strictMetrics === false) eq(ma.map((m) => [m.metric, m.sources]), mb.map((m) => [m.metric, m.sources]), 'metrics');
  else eq(ma, mb, 'metrics');
  const fineSpan = r.fineSpanMs;
  for (const metric of w.metrics) {
    for (const source of w.sources) {
      for (const tags of [undefined, ...w.tagSets.map(canonicalTags)]) {
        for (const [ring, step, from] of [['fine', r.fineStepMs, now - fineSpan], ['fine', 3 * r.fineStepMs, now - fineSpan], ['coarse', r.coarseStepMs, now - r.coarseSpanMs], ['coarse', 2 * r.coarseStepMs, now - r.coarseSpanMs]] as const) {
          const q = { metric, source, ring, fromMs: Math.floor(from / step) * step, toMs: now + 60_000, stepMs: step, ...(tags === undefined ? {} : { tags }) };
          eq(await ref.series(q), await other.series(q), `series ${JSON.stringify(q)}`);
        }
      }
    }
    for (const by of ['last', 'avg', 'max'] as SummaryBy[]) {
      for (const [windowMs, ring] of [[5000, 'fine'], [Math.min(60_000, fineSpan), 'fine'], [fineSpan, 'fine'], [r.coarseSpanMs, 'coarse']] as const) {
        for (const at of [now, now + 7000]) {
          const q = { metric, windowMs, by, now: at, ring };
          const [a, b] = [await ref.summary(q, `${windowMs}ms`), await other.summary(q, `${windowMs}ms`)];
          if (o.roundSummaries === true) eq(round12(a), round12(b), `summary ${JSON.stringify(q)}`);
          else eq(a, b, `summary ${JSON.stringify(q)}`);
        }
      }
    }
  }
  if (o.drainUpdates === true) eq(sortUpdates(await ref.drainUpdates()), sortUpdates(await other.drainUpdates()), 'drainUpdates');
  return checks;
}

/** Bounded request loops for load, failover and scaling tests (and small benches). */
import type http from 'node:http';
import { getJson } from './http.js';

/** Run `fn(i)` for i in [0, count) with at most `concurrency` in flight; resolves when all settled. */
export async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Samples of `metric` stored per source over the last 10 minutes, as the query API answers (8 queries at a time). */
export async function storedCounts(baseUrl: string, metric: string, sources: readonly string[], agent?: http.Agent): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  await pool(sources.length, 8, async (i) => {
    const source = sources[i]!;
    const s = await getJson<{ points: number[][] }>(`${baseUrl}/api/v1/series?metric=${metric}&source=${encodeURIComponent(source)}&from=-10m&step=10m`, agent);
    counts.set(source, s.points.reduce((n, p) => n + p[1]!, 0));
  });
  return counts;
}

/** Run `fn(i)` on `concurrency` lanes until `stop()` is true; resolves with the number of calls. */
export async function loop(concurrency: number, stop: () => boolean, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (!stop()) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return next;
}

/** Counts of outcomes by label ("202", "502", "error: ECONNRESET", "timeout"…). */
export class Outcomes {
  readonly counts = new Map<string, number>();
  add(label: string): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
  count(pred: (label: string) => boolean): number {
    let n = 0;
    for (const [l, c] of this.counts) if (pred(l)) n += c;
    return n;
  }
  toString(): string {
    return JSON.stringify(Object.fromEntries([...this.counts].sort()));
  }
}

/**
 * Prometheus histograms read from the admin /metrics (summed over every worker): the difference
 * between two scrapes is the distribution of one measured window, and quantiles come from the
 * bucket counts with the same linear interpolation as PromQL's histogram_quantile.
 */

export interface Histogram {
  /** Upper bounds, ascending, the last one +Inf. */
  le: number[];
  /** Cumulative counts per bound. */
  cumulative: number[];
  sum: number;
  count: number;
}

export async function scrapeMetrics(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(20_000) });
  if (res.status !== 200) throw new Error(`GET ${adminUrl}/metrics → ${res.status}`);
  return res.text();
}

/** Sum over every series of a counter or gauge whose labels include `labels`; 0 when absent. */
export function metricTotal(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (want.some((w) => !line.slice(name.length, line.lastIndexOf('}') + 1).includes(w))) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** The histogram `name`, every label combination summed bucket by bucket. */
export function readHistogram(text: string, name: string): Histogram {
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    if (rest.startsWith('_bucket{')) {
      const le = /le="([^"]+)"/.exec(rest)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      byLe.set(bound, (byLe.get(bound) ?? 0) + value);
    } else if (rest.startsWith('_sum')) sum += value;
    else if (rest.startsWith('_count')) count += value;
  }
  const le = [...byLe.keys()].sort((a, b) => a - b);
  return { le, cumulative: le.map((b) => byLe.get(b)!), sum, count };
}

/** `after − before` (the window between two scrapes). */
export function histogramDelta(after: Histogram, before: Histogram): Histogram {
  const prev = new Map(before.le.map((b, i) => [b, before.cumulative[i]!] as const));
  return { le: after.le, cumulative: after.le.map((b, i) => after.cumulative[i]! - (prev.get(b) ?? 0)), sum: after.sum - before.sum, count: after.count - before.count };
}

/** Quantile q (0..1) by linear interpolation inside the bucket (PromQL histogram_quantile); NaN when empty. */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < h.le.length; i++) {
    if (h.cumulative[i]! >= rank) {
      const upper = h.le[i]!;
      const lower = i === 0 ? 0 : h.le[i - 1]!;
      if (!Number.isFinite(upper)) return lower; // in +Inf: the highest finite bound is all PromQL can say
      const below = i === 0 ? 0 : h.cumulative[i - 1]!;
      const inBucket = h.cumulative[i]! - below;
      return inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    }
  }
  return h.le[h.le.length - 2] ?? Number.NaN;
}

/** Share of observations at or below `bound` (which should be one of the bucket bounds). */
export function shareAtOrBelow(h: Histogram, bound: number): number {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  let best = 0;
  for (let i = 0; i < h.le.length; i++) if (h.le[i]! <= bound) best = h.cumulative[i]!;
  return best / total;
}

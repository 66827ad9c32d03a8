/**
 * One Prometheus exposition for the whole cluster (admin GET /metrics): the primary asks every
 * live worker for its registry over IPC and merges them with its own (prom-client's
 * AggregatorRegistry.aggregate; each metric declares its merge in observability/metrics.ts).
 *
 * A scrape never fails because of a worker (NOTES.md §5: prom-client's own clusterMetrics() fails
 * the whole scrape after a hard-coded 5 s). Instead:
 * - the per-worker budget stays below the scraper's own timeout (Prometheus sends it in
 *   X-Prometheus-Scrape-Timeout-Seconds), so a slow worker is cut off while the answer can still
 *   arrive in time;
 * - a worker that does not answer within the budget, answers with an error, or sends a registry
 *   prom-client cannot merge is left out and counted in fleetpulse_scrape_missing_workers_total{reason};
 * - the deadline is enforced here as well, so a gather the router holds back (it defers gathers
 *   while a scale-down handoff runs) cannot hold the scrape either.
 */
import { AggregatorRegistry, type Registry } from 'prom-client';
import { RpcOp } from '../protocol/ipc.js';
import type { RpcGathered } from '../protocol/ipc.js';
import type { PrimaryMetrics } from '../observability/metrics.js';
import type { RpcRouter } from './rpc-router.js';

export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Never wait less than this for workers, whatever the scraper says (ms). */
const MIN_BUDGET_MS = 100;

/**
 * Per-worker budget (ms) for a scrape: the scraper's timeout minus a margin for merging and
 * sending (20 %, at least 250 ms), capped at `maxMs`. Without the header: `maxMs`.
 */
export function scrapeBudgetMs(timeoutHeader: string | string[] | undefined, maxMs: number): number {
  const raw = Array.isArray(timeoutHeader) ? timeoutHeader[0] : timeoutHeader;
  const s = raw === undefined ? NaN : Number(raw);
  if (!Number.isFinite(s) || s <= 0) return maxMs;
  const ms = s * 1000;
  return Math.round(Math.max(MIN_BUDGET_MS, Math.min(maxMs, ms - Math.max(250, ms * 0.2))));
}

/**
 * Gather `op` from every live worker within `budgetMs`, whatever the router does meanwhile.
 * Late: every live slot counts as missing.
 */
export async function gatherWithin(router: RpcRouter, op: RpcOp, budgetMs: number): Promise<Pick<RpcGathered, 'results' | 'missing'>> {
  const live = router.slots;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    // The router's own timer normally fires first; this one only covers a deferred gather.
    timer = setTimeout(() => resolve('late'), budgetMs + 100);
  });
  try {
    const g = await Promise.race([router.gatherFromPrimary(op, null, budgetMs), late]);
    return g === 'late' ? { results: [], missing: live } : g;
  } finally {
    clearTimeout(timer);
  }
}

/** Merge names prom-client knows (AggregatorRegistry.aggregate throws on any other). */
const KNOWN_AGGREGATORS = new Set(['sum', 'first', 'min', 'max', 'average', 'omit']);

/** A worker's answer is usable only if it looks like getMetricsAsJSON() output prom-client can merge. */
export function isMetricsJson(v: unknown): v is MetricsJson {
  return (
    Array.isArray(v) &&
    v.every((m: unknown) => {
      const o = m as { name?: unknown; type?: unknown; values?: unknown; aggregator?: unknown } | null;
      return typeof o === 'object' && o !== null && typeof o.name === 'string' && typeof o.type === 'string' && Array.isArray(o.values) && typeof o.aggregator === 'string' && KNOWN_AGGREGATORS.has(o.aggregator);
    })
  );
}

export interface ScrapeDeps {
  router: RpcRouter;
  registry: Registry;
  metrics: PrimaryMetrics;
  /** Refresh primary-side gauges that can be read right now (cluster-mode upstream health). */
  beforeScrape?: () => void;
}

/** The merged exposition text and its content type. */
export async function scrapeCluster(deps: ScrapeDeps, budgetMs: number): Promise<{ text: string; contentType: string }> {
  const started = performance.now();
  const g = await gatherWithin(deps.router, RpcOp.PromMetrics, budgetMs);
  const parts: MetricsJson[] = [];
  let errors = 0;
  for (const r of g.results) {
    if (r.ok && isMetricsJson(r.result)) parts.push(r.result);
    else errors++;
  }
  const m = deps.metrics;
  if (g.missing.length > 0) m.scrapeMissing.inc({ reason: 'timeout' }, g.missing.length);
  if (errors > 0) m.scrapeMissing.inc({ reason: 'error' }, errors);
  // The primary's registry is read after counting, so this scrape already reports its own misses.
  deps.beforeScrape?.();
  const own = await deps.registry.getMetricsAsJSON();
  let registry: Registry;
  try {
    registry = AggregatorRegistry.aggregate([...parts, own]);
  } catch {
    // Validated parts merge; should one still not, the primary's own metrics are better than a 500.
    m.scrapeMissing.inc({ reason: 'error' }, parts.length);
    registry = AggregatorRegistry.aggregate([await deps.registry.getMetricsAsJSON()]);
  }
  m.scrapeDuration.observe((performance.now() - started) / 1000);
  return { text: await registry.metrics(), contentType: registry.contentType };
}

/**
 * Query API (DESIGN.md §4): sources, metrics, series, summary. Parses and checks parameters,
 * picks the stored resolution, and asks the StateStore (which gathers every partition).
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { parseDurationMs, parseTimeMs, resolutionFor } from '../aggregate/window.js';
import type { RetentionConfig } from '../config/schema.js';
import { METRIC_RE, SOURCE_RE } from '../protocol/names.js';
import { SummaryBy, type SeriesQuery, type StateStore, type SummaryQuery } from '../state/store.js';

/** Most points one series answer may hold (like Prometheus' 11,000). */
export const MAX_POINTS = 11_000;

export interface QueryDeps {
  store: StateStore;
  retention: RetentionConfig;
  now: () => number;
}

function required(params: URLSearchParams, name: string, re: RegExp): string {
  const v = params.get(name);
  if (v === null || v === '') throw new FleetPulseError(ErrorCode.INVALID_QUERY, `query parameter ${name} is required`, { field: name });
  if (!re.test(v)) throw new FleetPulseError(ErrorCode.INVALID_QUERY, `query parameter ${name} is not a valid name`, { field: name });
  return v;
}

/** `tags=k=v,k2=v2` → canonical tag string (sorted), or undefined when absent. */
function parseTagsParam(text: string | null): string | undefined {
  if (text === null) return undefined;
  if (text === '') return '';
  const pairs = text.split(',').map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new FleetPulseError(ErrorCode.INVALID_QUERY, 'tags must look like k=v,k2=v2', { field: 'tags' });
    return [p.slice(0, eq), p.slice(eq + 1)] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join('\u001f');
}

export function buildSeriesQuery(params: URLSearchParams, r: RetentionConfig, now: number): SeriesQuery {
  const metric = required(params, 'metric', METRIC_RE);
  const source = required(params, 'source', SOURCE_RE);
  const toMs = params.has('to') ? parseTimeMs(params.get('to')!, 'to', now) : now;
  const fromMs = params.has('from') ? parseTimeMs(params.get('from')!, 'from', now) : toMs - 5 * 60_000;
  if (fromMs > toMs) throw new FleetPulseError(ErrorCode.INVALID_QUERY, 'from must not be after to', { field: 'from' });
  const res = resolutionFor(fromMs, now, r);
  let stepMs = res.stepMs;
  if (params.has('step')) {
    const asked = parseDurationMs(params.get('step')!, 'step');
    // Never finer than what is stored; round up to a whole number of stored buckets.
    stepMs = Math.max(res.stepMs, Math.ceil(asked / res.stepMs) * res.stepMs);
  }
  if ((toMs - fromMs) / stepMs > MAX_POINTS) {
    throw new FleetPulseError(ErrorCode.INVALID_QUERY, `range/step would give more than ${MAX_POINTS} points; use a larger step`, { field: 'step' });
  }
  const q: SeriesQuery = { metric, source, ring: res.ring, fromMs: Math.floor(fromMs / stepMs) * stepMs, toMs, stepMs };
  const tags = parseTagsParam(params.get('tags'));
  if (tags !== undefined) q.tags = tags;
  return q;
}

export function buildSummaryQuery(params: URLSearchParams, r: RetentionConfig, now: number): { q: SummaryQuery; windowText: string } {
  const metric = required(params, 'metric', METRIC_RE);
  const windowText = params.get('window') ?? '10s';
  const windowMs = parseDurationMs(windowText, 'window');
  if (windowMs < r.fineStepMs) throw new FleetPulseError(ErrorCode.INVALID_QUERY, `window must be at least ${r.fineStepMs} ms`, { field: 'window' });
  if (windowMs > r.coarseSpanMs) throw new FleetPulseError(ErrorCode.INVALID_QUERY, `window must be at most the retention (${r.coarseSpanMs / 1000}s)`, { field: 'window' });
  const by = params.get('by') ?? 'last';
  if (by !== SummaryBy.Last && by !== SummaryBy.Avg && by !== SummaryBy.Max) {
    throw new FleetPulseError(ErrorCode.INVALID_QUERY, 'by must be last, avg or max', { field: 'by' });
  }
  const ring = windowMs <= r.fineSpanMs ? 'fine' : 'coarse';
  return { q: { metric, windowMs, by, now, ring }, windowText };
}

export type QueryRoute = 'sources' | 'metrics' | 'series' | 'summary';

export async function answerQuery(route: QueryRoute, params: URLSearchParams, deps: QueryDeps): Promise<unknown> {
  const now = deps.now();
  switch (route) {
    case 'sources':
      return deps.store.sources(now);
    case 'metrics':
      return deps.store.metrics();
    case 'series':
      return deps.store.series(buildSeriesQuery(params, deps.retention, now));
    case 'summary': {
      const { q, windowText } = buildSummaryQuery(params, deps.retention, now);
      return deps.store.summary(q, windowText);
    }
  }
}

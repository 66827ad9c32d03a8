/**
 * The dashboard's URL ↔ view state (deep links): every view, metric, source and range is in the
 * URL, so a link or a reload shows the same screen. Pure: no DOM.
 *
 *   /fleet?metric=cpu                       /explore?metric=cpu&sources=a,b&range=5m
 *   /source/web-01?range=15m                /cluster
 */

export const View = { Fleet: 'fleet', Explore: 'explore', Source: 'source', Cluster: 'cluster' } as const;
export type View = (typeof View)[keyof typeof View];

export const RANGES = ['1m', '5m', '15m', '1h', '6h'] as const;
export type Range = (typeof RANGES)[number];
export const DEFAULT_RANGE: Range = '5m';

export interface Route {
  view: View;
  metric?: string;
  source?: string;
  sources: string[];
  range: Range;
}

const SOURCE_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const METRIC_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

/** Parse `pathname` + `search`; anything malformed falls back to a sane default instead of failing. */
/** True for a name the server accepts as a source. */
export function isSourceName(s: string): boolean {
  return SOURCE_RE.test(s);
}

export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  const parts = pathname.split('/').filter((p) => p !== '');
  const first = parts[0] ?? View.Fleet;
  const view: View = first === View.Explore || first === View.Source || first === View.Cluster ? first : View.Fleet;
  const rangeText = q.get('range');
  const range = (RANGES as readonly string[]).includes(rangeText ?? '') ? (rangeText as Range) : DEFAULT_RANGE;
  const route: Route = { view, sources: [], range };
  const metric = q.get('metric');
  if (metric !== null && METRIC_RE.test(metric)) route.metric = metric;
  if (view === View.Source) {
    // Kept as typed even when it is not a valid name: the view says "no such source" and shows it
    // literally (a crafted link is the way HTML reaches the screen; it must render as text).
    const src = safeDecode(parts.slice(1).join('/'));
    if (src !== '' && src.length <= 256) route.source = src;
  }
  const sources = q.get('sources');
  if (sources !== null) route.sources = [...new Set(sources.split(',').filter((s) => SOURCE_RE.test(s)))].slice(0, 20);
  return route;
}

export function formatRoute(r: Route): string {
  const q = new URLSearchParams();
  let path = `/${r.view}`;
  if (r.view === View.Source && r.source !== undefined) path += `/${encodeURIComponent(r.source)}`;
  if ((r.view === View.Fleet || r.view === View.Explore) && r.metric !== undefined) q.set('metric', r.metric);
  if (r.view === View.Explore && r.sources.length > 0) q.set('sources', r.sources.join(','));
  if ((r.view === View.Explore || r.view === View.Source) && r.range !== DEFAULT_RANGE) q.set('range', r.range);
  // ',' and ':' are safe in a query and keep links readable.
  const qs = q.toString().replaceAll('%2C', ',').replaceAll('%3A', ':');
  return qs === '' ? path : `${path}?${qs}`;
}

export function rangeMs(r: Range): number {
  const n = Number(r.slice(0, -1));
  return r.endsWith('h') ? n * 3_600_000 : n * 60_000;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

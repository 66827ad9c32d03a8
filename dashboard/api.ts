/** The REST API (DESIGN.md §4) as the dashboard uses it; answers typed from the server's own types. */
import type { MetricAnswer, SeriesAnswer, SourceAnswer, SummaryAnswer } from '../node/state/store.js';
import type { Point } from './lib/series-store.js';

/** A read key, when the server requires one: `?key=` once in the URL, then kept for the tab. */
export function readKey(): string | undefined {
  const fromUrl = new URLSearchParams(location.search).get('key');
  if (fromUrl !== null) sessionStorage.setItem('fp-key', fromUrl);
  return sessionStorage.getItem('fp-key') ?? undefined;
}

async function get<T>(path: string, params: Record<string, string | number> = {}, signal?: AbortSignal): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  const key = readKey();
  const qs = q.toString();
  const init: RequestInit = { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } };
  if (signal !== undefined) init.signal = signal;
  const res = await fetch(qs === '' ? path : `${path}?${qs}`, init);
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
  }
  return (await res.json()) as T;
}

export const api = {
  sources: (signal?: AbortSignal) => get<SourceAnswer[]>('/api/v1/sources', {}, signal),
  metrics: (signal?: AbortSignal) => get<MetricAnswer[]>('/api/v1/metrics', {}, signal),
  summary: (metric: string, signal?: AbortSignal) => get<SummaryAnswer>('/api/v1/summary', { metric, window: '10s', by: 'last' }, signal),
  series: async (metric: string, source: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<{ step: number; points: Point[] }> => {
    const a = await get<SeriesAnswer>('/api/v1/series', { metric, source, from: Math.floor(fromMs), to: Math.ceil(toMs) }, signal);
    return { step: a.step, points: a.points };
  },
};

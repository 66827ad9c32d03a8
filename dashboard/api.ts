/** The REST API (DESIGN.md §4) as the dashboard uses it; answers typed from the server's own types. */
import type { MetricAnswer, SeriesAnswer, SourceAnswer, SummaryAnswer } from '../node/state/store.js';
import type { Point } from './lib/series-store.js';

const KEY_ITEM = 'fp-key';

/**
 * The read key, when the server requires one. It lives in sessionStorage (this tab only, gone
 * when the tab closes; never localStorage or a cookie). A `?key=` in the address is taken once
 * and removed from the address bar and history, so it does not end up in bookmarks or screenshots.
 */
export function readKey(): string | undefined {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('key');
  if (fromUrl !== null) {
    sessionStorage.setItem(KEY_ITEM, fromUrl);
    params.delete('key');
    const qs = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${qs === '' ? '' : `?${qs}`}${location.hash}`);
  }
  return sessionStorage.getItem(KEY_ITEM) ?? undefined;
}

/** Keep `key` for this tab (the login prompt). */
export function setReadKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function clearReadKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
}

/** Detail of the window event `fp-auth-required`: the server refused the key (or its absence). */
export interface AuthRequiredDetail {
  code: 'unauthorized' | 'forbidden';
  message: string;
}

/** Tell the app shell to show the login prompt (REST 401/403 and Socket.IO connect_error both do). */
export function announceAuthRequired(detail: AuthRequiredDetail): void {
  window.dispatchEvent(new CustomEvent<AuthRequiredDetail>('fp-auth-required', { detail }));
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
    if (res.status === 401 || res.status === 403) announceAuthRequired({ code: res.status === 401 ? 'unauthorized' : 'forbidden', message: body?.error?.message ?? `HTTP ${res.status}` });
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

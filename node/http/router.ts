/**
 * Routes of the worker's public HTTP server (DESIGN.md §4), the same for HTTP/1.1 and h2c.
 * Handlers are thin; errors become `{"error":{…}}` answers in one place (respond.ts).
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { answerQuery, type QueryDeps, type QueryRoute } from '../query/http.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { sendError, sendJson } from './respond.js';
import type { AnyRequest, AnyResponse, Handler } from './server.js';

export interface RouterDeps {
  push: (req: AnyRequest, res: AnyResponse, legacy: boolean) => Promise<void>;
  query: QueryDeps;
  /** /readyz: can this worker accept and store samples now? */
  ready: () => { ready: boolean; reason?: string };
  metrics: WorkerMetrics;
  /** Fallback for GET paths that are not API routes (the dashboard's static files). */
  staticFiles?: (req: AnyRequest, res: AnyResponse, path: string) => boolean;
}

const queryRoutes: Record<string, QueryRoute> = {
  '/api/v1/sources': 'sources',
  '/api/v1/metrics': 'metrics',
  '/api/v1/series': 'series',
  '/api/v1/summary': 'summary',
};

export function createRouter(deps: RouterDeps): Handler {
  const count = (route: string, status: number): void => deps.metrics.httpRequests.inc({ route, code: `${Math.floor(status / 100)}xx` });

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === '/api/v1/ingest' || path === '/api/metrics') {
      if (method !== 'POST') return methodNotAllowed(res, 'POST', count);
      void deps.push(req, res, path === '/api/metrics');
      return;
    }
    const route = queryRoutes[path];
    if (route !== undefined) {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET', count);
      const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      answerQuery(route, params, deps.query).then(
        (body) => {
          sendJson(res, 200, body);
          count('query', 200);
        },
        (err: unknown) => count('query', sendError(res, err)),
      );
      return;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      const r = deps.ready();
      sendJson(res, r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not_ready', reason: r.reason ?? 'starting' });
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && deps.staticFiles?.(req, res, path) === true) return;
    count('other', sendError(res, new FleetPulseError(ErrorCode.NOT_FOUND, `no route for ${method} ${path.slice(0, 200)}`)));
  };
}

function methodNotAllowed(res: AnyResponse, allow: string, count: (route: string, status: number) => void): void {
  count('other', sendError(res, new FleetPulseError(ErrorCode.METHOD_NOT_ALLOWED, `use ${allow}`), { allow }));
}

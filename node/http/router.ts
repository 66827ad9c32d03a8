/**
 * Routes of the worker's public HTTP server (DESIGN.md §4), the same for HTTP/1.1 and h2c.
 * Handlers are thin; errors become `{"error":{…}}` answers in one place (respond.ts).
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { answerQuery, type QueryDeps, type QueryRoute } from '../query/http.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { drainRejected, errorSentOn, sendError, sendJson } from './respond.js';
import type { Logger } from '../observability/logger.js';
import { REQUEST_ID_HEADER, RequestErrorLog, requestIdOf } from '../observability/request-log.js';
import type { AnyRequest, AnyResponse, Handler } from './server.js';
import { Role, type AccessControl, type Principal } from './auth.js';
import type { PushHandler } from '../ingest/http.js';

export interface RouterDeps {
  push: PushHandler;
  /** Keys and Origin for ingest and query routes (node/http/auth.ts); without it, both are open. */
  access?: AccessControl;
  query: QueryDeps;
  /** True while the worker leaves the cluster: /healthz answers 503 so the balancer stops routing here. */
  draining?: () => boolean;
  /** /readyz: can this worker accept and store samples now? */
  ready: () => { ready: boolean; reason?: string };
  metrics: WorkerMetrics;
  /** Request error log (observability/request-log.ts); without it failures are only counted. */
  log?: Logger;
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
  const errLog = deps.log === undefined ? undefined : new RequestErrorLog(deps.log);
  /** After a request was answered: log it if it failed (levels and rate limit in request-log.ts). */
  const logIfFailed = (res: AnyResponse, reqId: string, route: string): void => {
    const err = errorSentOn(res);
    if (err !== undefined) errLog?.failed(reqId, route, err.httpStatus, err);
  };

  return (req, res) => {
    // Honoured or generated, returned to the client, and in every log line about this request.
    const reqId = requestIdOf(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, reqId);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === '/api/v1/ingest' || path === '/api/metrics') {
      if (method !== 'POST') {
        methodNotAllowed(res, 'POST', count);
        return logIfFailed(res, reqId, 'ingest');
      }
      const access = checkAccess(Role.Ingest, req, deps.access);
      if (!access.ok) {
        deps.metrics.ingestRequests.inc({ transport: 'http', code: '4xx' });
        // The body is unread: a client that asked to close must still get the answer (ingest/body.ts).
        void drainRejected(req, res).then(() => {
          answerRefusal(res, access.err);
          logIfFailed(res, reqId, 'ingest');
        });
        return;
      }
      void deps.push(req, res, path === '/api/metrics', access.principal).then(() => logIfFailed(res, reqId, 'ingest'));
      return;
    }
    const route = queryRoutes[path];
    if (route !== undefined) {
      if (method !== 'GET' && method !== 'HEAD') {
        methodNotAllowed(res, 'GET', count);
        return logIfFailed(res, reqId, 'query');
      }
      if (admit(Role.Read, req, res, deps.access) === undefined) {
        count('query', res.statusCode);
        return logIfFailed(res, reqId, 'query');
      }
      const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      answerQuery(route, params, deps.query).then(
        (body) => {
          sendJson(res, 200, body);
          count('query', 200);
        },
        (err: unknown) => {
          count('query', sendError(res, err));
          logIfFailed(res, reqId, 'query');
        },
      );
      return;
    }
    if (path === '/healthz') {
      if (deps.draining?.() === true) sendJson(res, 503, { status: 'draining' });
      else sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      const r = deps.ready();
      sendJson(res, r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not_ready', reason: r.reason ?? 'starting' });
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && deps.staticFiles?.(req, res, path) === true) return;
    count('other', sendError(res, new FleetPulseError(ErrorCode.NOT_FOUND, `no route for ${method} ${path.slice(0, 200)}`)));
    logIfFailed(res, reqId, 'other');
  };
}

/** The access check of a route: the principal, or undefined once the 401/403 is answered. */
function admit(role: Role, req: AnyRequest, res: AnyResponse, access: AccessControl | undefined): Principal | undefined {
  const r = checkAccess(role, req, access);
  if (r.ok) return r.principal;
  answerRefusal(res, r.err);
  return undefined;
}

/** The access check, without answering: the principal, or why not. */
function checkAccess(role: Role, req: AnyRequest, access: AccessControl | undefined): { ok: true; principal: Principal } | { ok: false; err: unknown } {
  if (access === undefined) return { ok: true, principal: { role, id: 'anonymous' } };
  try {
    return { ok: true, principal: access.check(role, req) };
  } catch (err) {
    return { ok: false, err };
  }
}

/** A 401/403; RFC 6750: a 401 names the scheme it wants. */
function answerRefusal(res: AnyResponse, err: unknown): void {
  sendError(res, err, err instanceof FleetPulseError && err.httpStatus === 401 ? { 'www-authenticate': 'Bearer realm="fleetpulse"' } : {});
}

function methodNotAllowed(res: AnyResponse, allow: string, count: (route: string, status: number) => void): void {
  count('other', sendError(res, new FleetPulseError(ErrorCode.METHOD_NOT_ALLOWED, `use ${allow}`), { allow }));
}

/**
 * The loopback admin server of the primary (DESIGN.md §4 Admin): cluster-wide /metrics,
 * /admin/cluster and POST /admin/scale. Never exposed through the balancer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { sendError, sendJson } from '../http/respond.js';
import { RpcOp } from '../protocol/ipc.js';
import type { PrimaryMetrics } from '../observability/metrics.js';
import type { RpcRouter } from './rpc-router.js';
import { gatherWithin, scrapeBudgetMs, scrapeCluster } from './scrape.js';

export interface AdminDeps {
  router: RpcRouter;
  registry: Registry;
  metrics: PrimaryMetrics;
  clusterInfo: () => { balancer: string; state: string };
  scale: (workers: number) => Promise<{ workers: number }>;
  maxWorkers: number;
  /** Most a scrape waits for workers, ms; less when the scraper's own timeout is shorter (scrape.ts). */
  scrapeTimeoutMs: number;
  /** Refresh primary-side gauges before a scrape (scrape.ts). */
  beforeScrape?: () => void;
}

export async function startAdmin(port: number, deps: AdminDeps): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    handle(req, res, deps).catch((err: unknown) => sendError(res, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** `Host` names a loopback address (any port): anything else is a DNS-rebinding page. */
const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;

/**
 * The admin port listens on loopback only, but a browser on this machine can still reach it:
 * a page elsewhere could POST /admin/scale (a "simple" cross-site request needs no preflight) or,
 * through DNS rebinding, read /metrics. So: the Host must be a loopback name, a browser's Origin
 * must be loopback too, and POST bodies must be application/json (which needs a CORS preflight
 * that this server never grants).
 */
function refuseBrowserTricks(req: http.IncomingMessage): void {
  const host = req.headers.host ?? '';
  const origin = req.headers.origin;
  let originHost = '';
  try {
    originHost = origin === undefined ? '' : new URL(origin).host;
  } catch {
    originHost = 'invalid';
  }
  if (!LOOPBACK_HOST.test(host) || (origin !== undefined && !LOOPBACK_HOST.test(originHost))) {
    throw new FleetPulseError(ErrorCode.FORBIDDEN, 'the admin port answers loopback clients only (Host and Origin must be loopback)');
  }
  if (req.method === 'POST' && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    throw new FleetPulseError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'admin POST bodies must be Content-Type: application/json');
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, deps: AdminDeps): Promise<void> {
  refuseBrowserTricks(req);
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
    // A worker that does not answer in time is left out and counted, never allowed to fail the scrape (scrape.ts).
    const budget = scrapeBudgetMs(req.headers['x-prometheus-scrape-timeout-seconds'], deps.scrapeTimeoutMs);
    const { text, contentType } = await scrapeCluster(deps, budget);
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  if (path === '/admin/cluster' && req.method === 'GET') {
    const g = await gatherWithin(deps.router, RpcOp.Status, 2000);
    const workers = g.results.filter((r) => r.ok).map((r) => r.result);
    sendJson(res, 200, { ...deps.clusterInfo(), workers });
    return;
  }
  if (path === '/admin/scale' && req.method === 'POST') {
    const body = await readSmallJson(req);
    const n = (body as { workers?: unknown } | null)?.workers;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > deps.maxWorkers) {
      throw new FleetPulseError(ErrorCode.INVALID_QUERY, `workers must be an integer from 1 to maxWorkers (${deps.maxWorkers})`, { field: 'workers' });
    }
    sendJson(res, 200, await deps.scale(n));
    return;
  }
  throw new FleetPulseError(ErrorCode.NOT_FOUND, `no admin route for ${req.method} ${path}`);
}

async function readSmallJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new FleetPulseError(ErrorCode.BODY_TOO_LARGE, 'admin body too large');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new FleetPulseError(ErrorCode.INVALID_JSON, 'body must be JSON like {"workers": 3}');
  }
}

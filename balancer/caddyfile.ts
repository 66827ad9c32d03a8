/**
 * Render Caddy 2.6.2's config (a Caddyfile) from the resolved FleetPulse config. Pure: the same
 * config always gives the same text, so the top-level `Caddyfile` (the default topology) is this
 * function's output, checked by a test.
 *
 * Shape and the 2.6.2 pitfalls it avoids (NOTES.md §1):
 * - Every one of `maxWorkers` slots is declared up front (127.0.0.(2+slot):workerPort) with active
 *   health checks on /healthz, so empty or draining slots are simply "down" and scaling never
 *   reloads Caddy (a reload drops every proxied WebSocket, §1.7).
 * - Ingest with `X-Source` uses the `header` policy: rendezvous FNV-1a over the same dial strings
 *   as node/state/ownership.ts, so Caddy picks the owner worker itself. Without the header (2.6.2
 *   has no `fallback` sub-option, §1.1) a separate route uses least_conn.
 * - WebSocket routes (/api/v1/stream, /socket.io/*) have their own HTTP/1.1 reverse_proxy: with
 *   h2c upstreams 2.6.2 sends upgrades through http2.Transport and answers 502 (§1.4).
 * - Bodies over ingest.maxBodyBytes are answered 413 by a Content-Length matcher *before* the
 *   proxy: 2.6.2's request_body limit gives 502 and dings the upstream's health (§1.6).
 * - Upstream keep-alive (30 s) stays below the workers' keepAliveTimeout (65 s), so Caddy never
 *   writes into a socket Node just closed (§1.3).
 * - `keepalive_idle_conns_per_host` is set: once a `transport http` block sets anything, 2.6.2
 *   leaves Go's default of 2 idle connections per upstream, and every request past the second
 *   in flight closes its upstream connection afterwards and dials a new one next time.
 */
import type { ResolvedConfig } from '../node/config/schema.js';
import { workerDial } from '../node/state/ownership.js';

/** The slice of the config the Caddyfile depends on. */
export type CaddyfileInput = Pick<ResolvedConfig, 'host' | 'port' | 'tlsPort' | 'workerPort' | 'maxWorkers' | 'upstreamProtocol' | 'caddy'> & {
  ingest: Pick<ResolvedConfig['ingest'], 'maxBodyBytes'>;
};

/** Idle time of Caddy's pooled upstream connections; below the workers' 65 s keepAliveTimeout. */
export const UPSTREAM_KEEPALIVE_S = 30;
/**
 * Idle upstream connections Caddy keeps per worker. Go's default (2) made Caddy dial a fresh
 * connection for nearly every request under 64 concurrent pushes: with 256, the bench's push
 * through Caddy ran +23% requests/s with −22% Caddy CPU and −21% upstream CPU per request
 * (measured behind bench/lib/caddy-front.ts; ARCHITECTURE.md, Balancer). Idle ones still close
 * after UPSTREAM_KEEPALIVE_S.
 */
export const UPSTREAM_IDLE_CONNS_PER_HOST = 256;

/** The HTTP/1.1 upstream transport of every proxied route (and of the bench's Caddy control), one line per entry. */
export function h1TransportLines(): string[] {
  return ['transport http {', `\tkeepalive ${UPSTREAM_KEEPALIVE_S}s`, `\tkeepalive_idle_conns_per_host ${UPSTREAM_IDLE_CONNS_PER_HOST}`, '}'];
}

/** How long Caddy retries a request whose upstream could not be dialed (dial errors are always safe to retry). */
export const LB_TRY_DURATION_MS = 3000;
/** Passive health: one failed proxy attempt takes an upstream out for this long. */
export const FAIL_DURATION_MS = 2000;
/** How long Caddy lets open connections finish on SIGTERM before closing them. */
export const GRACE_PERIOD_S = 3;

export const INGEST_PATHS = ['/api/v1/ingest', '/api/metrics'] as const;
export const STREAM_PATH = '/api/v1/stream';
export const SOCKET_IO_PATH = '/socket.io/*';
/** Cookie Caddy pins Socket.IO clients with (needed only for the long-polling transport). */
export const SOCKET_IO_COOKIE = 'fp_sio';

/** Dial addresses of every declared worker slot, in slot order. */
export function slotDials(cfg: Pick<CaddyfileInput, 'maxWorkers' | 'workerPort'>): string[] {
  return Array.from({ length: cfg.maxWorkers }, (_, slot) => workerDial(slot, cfg.workerPort));
}

/**
 * An RE2 pattern matching a decimal integer strictly greater than `n` (leading zeros allowed):
 * either more digits than `n`, or the same number of digits and larger at the first difference.
 */
export function greaterThanPattern(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`BUG: greaterThanPattern needs a non-negative integer, got ${n}`);
  const d = String(n);
  const alts = [`[1-9][0-9]{${d.length},}`];
  for (let i = 0; i < d.length; i++) {
    const digit = Number(d[i]);
    if (digit === 9) continue;
    const next = digit + 1 === 9 ? '9' : `[${digit + 1}-9]`;
    const rest = d.length - i - 1;
    alts.push(`${d.slice(0, i)}${next}${rest === 0 ? '' : rest === 1 ? '[0-9]' : `[0-9]{${rest}}`}`);
  }
  return `^0*(${alts.join('|')})$`;
}

function bindHost(host: string): string {
  return host === 'localhost' ? '127.0.0.1' : host;
}

/** Names the internal CA issues the TLS certificate for. */
export function tlsNames(host: string): string[] {
  const names = ['localhost', '127.0.0.1'];
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  if (!wildcard && !names.includes(host)) names.push(host.includes(':') ? `[${host}]` : host);
  return names;
}

/** Render the Caddyfile (tab-indented, `caddy fmt`-clean). */
export function renderCaddyfile(cfg: CaddyfileInput): string {
  const dials = slotDials(cfg).join(' ');
  const h2cIngest = cfg.upstreamProtocol === 'h2c';
  const tooBig = greaterThanPattern(cfg.ingest.maxBodyBytes);
  const tooBigBody = JSON.stringify({ error: { code: 'body_too_large', message: `body is over the limit of ${cfg.ingest.maxBodyBytes} bytes` } });
  const bind = bindHost(cfg.host);
  const L: string[] = [];
  const add = (indent: number, line: string): void => {
    L.push(line === '' ? '' : '\t'.repeat(indent) + line);
  };
  const h1Transport = (i: number): void => {
    for (const line of h1TransportLines()) add(i, line);
  };
  const ingestTransport = (i: number): void => {
    if (!h2cIngest) return h1Transport(i);
    add(i, 'transport http {');
    add(i + 1, 'versions h2c 2');
    add(i, '}');
  };

  add(0, '# FleetPulse balancer: rendered by balancer/caddyfile.ts from cluster.config.ts (do not edit by hand;');
  add(0, '# a test keeps this file equal to the rendered default topology). Workers listen on');
  add(0, `# 127.0.0.(2+slot):${cfg.workerPort}; all ${cfg.maxWorkers} slots are declared, empty ones fail their health checks.`);
  add(0, '{');
  add(1, cfg.caddy.adminPort === 0 ? 'admin off' : `admin 127.0.0.1:${cfg.caddy.adminPort}`);
  add(1, 'auto_https disable_redirects');
  add(1, 'skip_install_trust');
  add(1, `grace_period ${GRACE_PERIOD_S}s`);
  add(1, 'servers {');
  // h2c serves only cleartext connections and h2 only TLS ones, so one list fits both ports; no h3.
  add(2, 'protocols h1 h2 h2c');
  add(1, '}');
  add(1, 'log {');
  // Probes of empty slots fail by design every interval; do not log them.
  add(2, 'exclude http.handlers.reverse_proxy.health_checker.active');
  add(1, '}');
  add(0, '}');
  add(0, '');
  add(0, '(fleetpulse_upstreams) {');
  add(1, `to ${dials}`);
  add(1, 'health_uri /healthz');
  add(1, `health_interval ${ms(cfg.caddy.healthIntervalMs)}`);
  add(1, `health_timeout ${ms(Math.max(2000, cfg.caddy.healthIntervalMs))}`);
  add(1, `fail_duration ${ms(FAIL_DURATION_MS)}`);
  add(1, 'max_fails 1');
  add(1, `lb_try_duration ${ms(LB_TRY_DURATION_MS)}`);
  add(1, 'lb_try_interval 100ms');
  add(0, '}');
  add(0, '');
  add(0, '(fleetpulse_routes) {');
  add(1, 'route {');
  add(2, `@too_big header_regexp Content-Length "${tooBig}"`);
  add(2, 'header @too_big Content-Type application/json');
  add(2, `respond @too_big \`${tooBigBody}\` 413`);
  add(0, '');
  add(2, '@stream_sourced {');
  add(3, `path ${STREAM_PATH}`);
  add(3, 'header X-Source *');
  add(2, '}');
  add(2, 'reverse_proxy @stream_sourced {');
  add(3, 'import fleetpulse_upstreams');
  add(3, 'lb_policy header X-Source');
  h1Transport(3);
  add(2, '}');
  add(0, '');
  add(2, `@socket_io path ${SOCKET_IO_PATH}`);
  add(2, 'reverse_proxy @socket_io {');
  add(3, 'import fleetpulse_upstreams');
  add(3, `lb_policy cookie ${SOCKET_IO_COOKIE}`);
  h1Transport(3);
  add(2, '}');
  add(0, '');
  add(2, '@ingest_sourced {');
  add(3, `path ${INGEST_PATHS.join(' ')}`);
  add(3, 'header X-Source *');
  add(2, '}');
  add(2, 'reverse_proxy @ingest_sourced {');
  add(3, 'import fleetpulse_upstreams');
  add(3, 'lb_policy header X-Source');
  ingestTransport(3);
  add(2, '}');
  add(0, '');
  add(2, `@ingest path ${INGEST_PATHS.join(' ')}`);
  add(2, 'reverse_proxy @ingest {');
  add(3, 'import fleetpulse_upstreams');
  add(3, 'lb_policy least_conn');
  ingestTransport(3);
  add(2, '}');
  add(0, '');
  // Everything else: queries, health, the dashboard, and /api/v1/stream without X-Source (HTTP/1.1).
  add(2, 'reverse_proxy {');
  add(3, 'import fleetpulse_upstreams');
  add(3, 'lb_policy least_conn');
  h1Transport(3);
  add(2, '}');
  add(1, '}');
  add(0, '}');
  add(0, '');
  add(0, `http://:${cfg.port} {`);
  add(1, `bind ${bind}`);
  add(1, 'import fleetpulse_routes');
  add(0, '}');
  add(0, '');
  add(0, `${tlsNames(cfg.host).map((n) => `https://${n}:${cfg.tlsPort}`).join(', ')} {`);
  add(1, `bind ${bind}`);
  add(1, 'tls internal');
  add(1, 'import fleetpulse_routes');
  add(0, '}');
  return L.join('\n') + '\n';
}

/** Caddy duration text for a whole number of ms (`1s`, `250ms`). */
function ms(v: number): string {
  return v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`;
}

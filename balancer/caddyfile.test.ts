import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { loadConfig } from '../node/config/load.js';
import { skipUnless } from '../node/testing/binaries.js';
import { workerDial } from '../node/state/ownership.js';
import { greaterThanPattern, renderCaddyfile, slotDials, type CaddyfileInput } from './caddyfile.js';
import { defaultCaddyfile } from './print-caddyfile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function cfgWith(over: Partial<CaddyfileInput> = {}): CaddyfileInput {
  return { ...loadConfig({ env: {}, flags: { balancer: 'caddy' }, caddyAvailable: true }), ...over };
}

test('greaterThanPattern matches exactly the integers above n (leading zeros too)', () => {
  for (const n of [0, 1, 9, 10, 99, 100, 1024, 1048576, 999_999, 64 * 1024 * 1024]) {
    const re = new RegExp(greaterThanPattern(n));
    for (const m of [0, n - 1, n, n + 1, n * 10, n + 9, Math.floor(n / 10)]) {
      if (m < 0) continue;
      assert.equal(re.test(String(m)), m > n, `n=${n} m=${m}`);
    }
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 41 }), fc.nat({ max: 3 }), (n, m, zeros) => {
      const re = new RegExp(greaterThanPattern(n));
      return re.test('0'.repeat(zeros) + String(m)) === m > n;
    }),
    { numRuns: 3000 },
  );
  assert.equal(new RegExp(greaterThanPattern(1048576)).test('1048576 '), false, 'anchored');
});

test('every worker slot is declared with the dial strings ownership hashes over', () => {
  const text = renderCaddyfile(cfgWith({ maxWorkers: 5, workerPort: 9200 }));
  const dials = slotDials({ maxWorkers: 5, workerPort: 9200 });
  assert.deepEqual(dials, [0, 1, 2, 3, 4].map((s) => workerDial(s, 9200)));
  assert.ok(text.includes(`to ${dials.join(' ')}\n`), text);
  assert.match(text, /health_uri \/healthz/);
  assert.match(text, /admin off/);
  assert.match(renderCaddyfile(cfgWith({ caddy: { adminPort: 2999, dataDir: 'x', healthIntervalMs: 500 } })), /admin 127\.0\.0\.1:2999\n[\s\S]*health_interval 500ms/);
});

test('h2c goes only to the ingest routes; WebSocket routes stay on HTTP/1.1', () => {
  const text = renderCaddyfile(cfgWith({ upstreamProtocol: 'h2c' }));
  const blocks = text.split('reverse_proxy @').slice(1);
  const byName = new Map(blocks.map((b) => [b.slice(0, b.indexOf(' ')), b.slice(0, b.indexOf('\n\t\t}'))]));
  assert.match(byName.get('ingest_sourced')!, /versions h2c 2/);
  assert.match(byName.get('ingest')!, /versions h2c 2/);
  assert.doesNotMatch(byName.get('stream_sourced')!, /h2c/);
  assert.doesNotMatch(byName.get('socket_io')!, /h2c/);
  assert.equal(text.match(/versions h2c 2/g)?.length, 2);
  assert.doesNotMatch(renderCaddyfile(cfgWith()), /h2c 2/);
});

test('the top-level Caddyfile is the rendered default topology', () => {
  const onDisk = readFileSync(join(ROOT, 'Caddyfile'), 'utf8');
  assert.equal(onDisk, defaultCaddyfile(), 'Caddyfile is out of date: run `npx tsc -p . && node dist/balancer/print-caddyfile.js > Caddyfile`');
});

test('caddy 2.6 accepts the rendered config unchanged (adapt, fmt) and orders the routes as written', { skip: skipUnless('caddy') }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fp-caddyfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const upstreamProtocol of ['h1', 'h2c'] as const) {
    const text = renderCaddyfile(cfgWith({ upstreamProtocol }));
    const file = join(dir, `Caddyfile.${upstreamProtocol}`);
    writeFileSync(file, text);
    assert.equal(execFileSync('caddy', ['fmt', file], { encoding: 'utf8' }), text, 'not caddy-fmt clean');
    const out = execFileSync('caddy', ['adapt', '--config', file, '--adapter', 'caddyfile'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const json = JSON.parse(out) as { apps: { http: { servers: Record<string, { listen: string[]; routes: AdaptedRoute[] }> } } };
    const servers = Object.values(json.apps.http.servers);
    assert.deepEqual(servers.map((s) => s.listen).flat().sort(), ['127.0.0.1:8080', '127.0.0.1:8443']);
    for (const srv of servers) {
      // Site block → `route {}` block: descend through single-route subroutes to the list we wrote.
      let routes = srv.routes;
      while (routes.length === 1 && routes[0]!.handle[0]?.routes !== undefined) routes = routes[0]!.handle[0].routes;
      const steps = routes.map(describe);
      // The written order: 413 before any proxy; sourced stream, Socket.IO, sourced ingest, ingest, catch-all.
      assert.deepEqual(
        steps.map((s) => `${s.handler}:${s.paths}:${s.policy}:${s.h2c}`),
        [
          'headers:::false', 'static_response:::false',
          'reverse_proxy:/api/v1/stream:header:false', 'reverse_proxy:/socket.io/*:cookie:false',
          `reverse_proxy:/api/v1/ingest,/api/metrics:header:${upstreamProtocol === 'h2c'}`, `reverse_proxy:/api/v1/ingest,/api/metrics:least_conn:${upstreamProtocol === 'h2c'}`,
          'reverse_proxy::least_conn:false',
        ],
      );
    }
  }
});

interface AdaptedRoute {
  match?: Array<{ path?: string[] }>;
  handle: Array<{ handler: string; routes?: AdaptedRoute[]; load_balancing?: { selection_policy?: { policy?: string } }; transport?: { versions?: string[] } }>;
}

function describe(r: AdaptedRoute): { handler: string; paths: string; policy: string; h2c: boolean } {
  const h = r.handle[0]!;
  return {
    handler: h.handler,
    paths: (r.match?.[0]?.path ?? []).join(','),
    policy: h.load_balancing?.selection_policy?.policy ?? '',
    h2c: h.transport?.versions?.includes('h2c') ?? false,
  };
}

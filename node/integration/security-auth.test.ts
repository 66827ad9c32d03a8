/**
 * Keys, roles, Origin, rate and series limits on a real 2-worker cluster (issue 9 §1–2):
 * - ingest keys ingest and cannot read (403); read keys read and cannot ingest (403); no or an
 *   unknown key is 401; Bearer, X-API-Key and ?key= all work; a cross-origin browser request is
 *   403 even with a good key; Socket.IO /live needs a read key and a same-origin handshake;
 * - per-key rate limit: 429 rate_limited + Retry-After, other keys unaffected;
 * - series limit: 429 series_limit, and /admin/cluster says which sources hit it (memory: per
 *   partition; redis: shared in Redis);
 * - no key ever appears in the logs (debug level, every failure path exercised).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io as ioClient } from 'socket.io-client';
import { startCluster } from '../testing/cluster.js';
import { request, type HttpAnswer } from '../testing/http.js';
import { connectStream } from '../testing/ws-client.js';
import { until } from '../testing/until.js';
import { startRedis } from '../testing/redis.js';
import { skipUnless } from '../testing/binaries.js';

const INGEST = 'itest-ingest-key-4f1c9e';
const INGEST2 = 'itest-ingest-key-b77a20';
const READ = 'itest-read-key-93d5aa';
const SECRETS = [INGEST, INGEST2, READ];

const body = (source: string, n = 1): string => JSON.stringify(Array.from({ length: n }, (_, i) => ({ source, metric: 'sec.m', value: i })));

async function post(url: string, headers: Record<string, string>, payload = body('sec-01')): Promise<HttpAnswer> {
  return request(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
}

function liveConnect(url: string, opts: { key?: string; origin?: string }): Promise<{ ok: true } | { ok: false; code: string | undefined; message: string }> {
  return new Promise((resolve) => {
    const s = ioClient(`${url}/live`, {
      transports: ['websocket'], reconnection: false, timeout: 10_000,
      ...(opts.key === undefined ? {} : { auth: { key: opts.key } }),
      ...(opts.origin === undefined ? {} : { extraHeaders: { origin: opts.origin } }),
    });
    s.on('connect', () => {
      s.close();
      resolve({ ok: true });
    });
    s.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      s.close();
      resolve({ ok: false, code: err.data?.code, message: err.message });
    });
  });
}

test('keys, roles and Origin on push, query, stream and Socket.IO; limits; nothing secret in the logs', { timeout: 120_000 }, async (t) => {
  const c = await startCluster({
    workers: 2,
    env: {
      FLEETPULSE_LOG_LEVEL: 'debug',
      FLEETPULSE_INGEST_KEYS: `${INGEST},${INGEST2}`,
      FLEETPULSE_READ_KEYS: READ,
      FLEETPULSE_RATE_LIMIT: '500',
      FLEETPULSE_ALLOWED_ORIGINS: 'https://dash.example.com',
      FLEETPULSE_CONFIG: JSON.stringify({ state: { maxSeries: 50 } }),
    },
  });
  t.after(() => c.stop());
  const url = c.url;
  const host = new URL(url).host;

  // ---- push ----
  assert.equal((await post(url, { authorization: `Bearer ${INGEST}` })).status, 202);
  assert.equal((await post(url, { 'x-api-key': INGEST })).status, 202);
  assert.equal((await request(`${url}/api/v1/ingest?key=${INGEST}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('sec-01') })).status, 202);
  assert.equal((await request(`${url}/api/metrics`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` }, body: JSON.stringify({ server_id: 7, metric_type: 'cpu', value: 1 }) })).status, 201);
  const none = await post(url, {});
  assert.equal(none.status, 401);
  assert.equal(none.json<{ error: { code: string } }>().error.code, 'unauthorized');
  assert.match(String(none.headers['www-authenticate']), /^Bearer/);
  assert.equal((await post(url, { authorization: 'Bearer not-a-real-key-000' })).status, 401);
  const readIngesting = await post(url, { authorization: `Bearer ${READ}` });
  assert.equal(readIngesting.status, 403);
  assert.equal(readIngesting.json<{ error: { code: string } }>().error.code, 'forbidden');
  assert.equal((await post(url, { authorization: `Bearer ${INGEST}`, origin: 'https://evil.example' })).status, 403, 'cross-origin POST refused even with a key');
  assert.equal((await post(url, { authorization: `Bearer ${INGEST}`, origin: `http://${host}` })).status, 202, 'same-origin POST is fine');

  // ---- query ----
  const q = (headers: Record<string, string>, path = '/api/v1/sources'): Promise<HttpAnswer> => request(`${url}${path}`, { headers });
  assert.equal((await q({ authorization: `Bearer ${READ}` })).status, 200);
  assert.equal((await q({ 'x-api-key': READ })).status, 200);
  assert.equal((await request(`${url}/api/v1/metrics?key=${READ}`)).status, 200);
  assert.equal((await q({})).status, 401);
  const ingestReading = await q({ authorization: `Bearer ${INGEST}` });
  assert.equal(ingestReading.status, 403);
  assert.equal(ingestReading.json<{ error: { code: string } }>().error.code, 'forbidden');
  assert.equal((await q({ authorization: `Bearer ${READ}`, origin: 'https://evil.example' })).status, 403);
  assert.equal((await q({ authorization: `Bearer ${READ}`, origin: 'https://dash.example.com' })).status, 200, 'listed origin');
  assert.equal((await q({}, '/healthz')).status, 200, 'health needs no key');
  assert.equal((await q({}, '/readyz')).status, 200);

  // ---- stream ----
  const anon = await connectStream(url);
  assert.equal((await anon.closed).code, 1008);
  const wrongRole = await connectStream(url, { key: READ });
  const wr = await wrongRole.closed;
  assert.equal(wr.code, 1008);
  assert.match(wr.reason, /read key/);
  const crossSite = await connectStream(url, { key: INGEST, headers: { origin: 'https://evil.example' } });
  assert.equal((await crossSite.closed).code, 1008);
  const s = await connectStream(url, { headers: { 'x-api-key': INGEST } });
  s.send({ seq: 1, source: 'sec-02', metric: 'sec.m', value: 1 });
  await s.waitAck(1);
  s.close();

  // ---- Socket.IO /live ----
  assert.deepEqual(await liveConnect(url, { key: READ }), { ok: true });
  const noKey = await liveConnect(url, {});
  assert.equal(noKey.ok, false);
  assert.equal(!noKey.ok && noKey.code, 'unauthorized');
  const ingestLive = await liveConnect(url, { key: INGEST });
  assert.equal(!ingestLive.ok && ingestLive.code, 'forbidden');
  const evil = await liveConnect(url, { key: READ, origin: 'https://evil.example' });
  assert.equal(evil.ok, false, 'cross-origin handshake refused');
  assert.deepEqual(await liveConnect(url, { key: READ, origin: `http://${host}` }), { ok: true });

  // ---- rate limit: 500 samples/s per key (each worker); INGEST2 keeps its own bucket ----
  let limited: HttpAnswer | undefined;
  for (let i = 0; i < 40 && limited === undefined; i++) {
    const a = await post(url, { authorization: `Bearer ${INGEST}` }, body(`rl-${i % 5}`, 400));
    if (a.status === 429) limited = a;
    else assert.equal(a.status, 202);
  }
  assert.ok(limited !== undefined, 'a key sending 400-sample batches back to back hits 500/s');
  assert.equal(limited.json<{ error: { code: string } }>().error.code, 'rate_limited');
  assert.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds');
  assert.equal((await post(url, { authorization: `Bearer ${INGEST2}` }, body('rl-other', 100))).status, 202, 'another key is not limited');

  // ---- series limit: 50 per partition; new sources past it → 429 series_limit, listed ----
  let seriesLimited: HttpAnswer | undefined;
  for (let i = 0; i < 200 && seriesLimited === undefined; i++) {
    const a = await post(url, { authorization: `Bearer ${INGEST2}` }, body(`many-${i}`));
    if (a.status === 429) seriesLimited = a;
    else assert.equal(a.status, 202, a.body);
  }
  assert.ok(seriesLimited !== undefined, 'the series limit was reached');
  assert.equal(seriesLimited.json<{ error: { code: string } }>().error.code, 'series_limit');
  const cluster = (await request(`${c.adminUrl}/admin/cluster`)).json<{ workers: Array<{ seriesLimit: { rejections: number; sources: Array<{ source: string }> } }> }>();
  const hit = cluster.workers.flatMap((w) => w.seriesLimit.sources.map((x) => x.source));
  assert.ok(hit.some((x) => x.startsWith('many-')), `admin/cluster names the sources: ${JSON.stringify(hit)}`);
  const metrics = await (await request(`${c.adminUrl}/metrics`)).body;
  assert.match(metrics, /fleetpulse_ingest_series_limit_rejections_total\{transport="http"[^}]*\} [1-9]/);
  assert.match(metrics, /fleetpulse_ingest_rate_limited_samples_total\{transport="http"[^}]*\} [1-9]/);
  assert.match(metrics, /fleetpulse_auth_failures_total\{role="ingest",reason="wrong_role"[^}]*\} [1-9]/);
  assert.match(metrics, /fleetpulse_auth_failures_total\{role="read",reason="origin"[^}]*\} [1-9]/);

  // ---- the admin port refuses browser tricks (DNS rebinding, cross-site POST) ----
  assert.equal((await request(`${c.adminUrl}/admin/cluster`, { headers: { host: 'attacker.example:9464' } })).status, 403, 'rebinding Host');
  assert.equal((await request(`${c.adminUrl}/metrics`, { headers: { origin: 'https://evil.example' } })).status, 403, 'cross-site Origin');
  const simplePost = await request(`${c.adminUrl}/admin/scale`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"workers":1}' });
  assert.equal(simplePost.status, 415, 'a form-like POST cannot scale');
  assert.equal((await request(`${c.adminUrl}/admin/cluster`)).status, 200);

  // ---- nothing secret in any log line (debug level, after all of the above) ----
  await until('the debug log of a rejected request', 10_000, () => /request rejected/.test(c.proc.output()));
  const out = c.proc.output();
  for (const k of SECRETS) assert.ok(!out.includes(k), `key ${k.slice(0, 10)}… appears in the log`);
});

test('series limit in redis mode: shared across workers, 429 series_limit, the sources listed per worker', { timeout: 90_000, skip: skipUnless('redis-server') }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = await startCluster({ workers: 2, state: 'redis', redisUrl: redis.url, env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ state: { maxSeries: 5 } }) }, readyTimeoutMs: 60_000 });
  t.after(() => c.stop());
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await post(c.url, {}, body(`rs-${i}`))).status);
  assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429, 429, 429, 429], 'the limit counts series in Redis, whichever worker answers');
  const cluster = (await request(`${c.adminUrl}/admin/cluster`)).json<{ workers: Array<{ seriesLimit: { rejections: number; sources: Array<{ source: string }> } }> }>();
  assert.equal(cluster.workers.reduce((n, w) => n + w.seriesLimit.rejections, 0), 5);
  assert.deepEqual(cluster.workers.flatMap((w) => w.seriesLimit.sources.map((s) => s.source)).sort(), ['rs-5', 'rs-6', 'rs-7', 'rs-8', 'rs-9']);
});

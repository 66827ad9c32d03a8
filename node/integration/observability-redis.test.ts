/**
 * Observability in Redis state mode, against a real redis-server that goes away and comes back:
 * Redis operation metrics by op, fleetpulse_state_ready per worker, samples that could not be
 * stored counted exactly as `failed`, /readyz 503 with its reason, and the outage logged once per
 * transition per worker (not per failed request or reconnect attempt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../testing/cluster.js';
import { startRedis } from '../testing/redis.js';
import { postJson, request } from '../testing/http.js';
import { skipUnless } from '../testing/binaries.js';
import { until } from '../testing/until.js';
import { sumSeries } from '../testing/prom-text.js';
import { logLines } from '../testing/log-lines.js';

const scrape = async (adminUrl: string): Promise<string> => (await request(`${adminUrl}/metrics`)).body;

test('redis mode: op metrics, readiness and failures while Redis is down, outage logged once per change', { skip: skipUnless('redis-server'), timeout: 90_000 }, async (t) => {
  let redis = await startRedis();
  t.after(() => redis.stop());
  const cluster = await startCluster({ workers: 2, state: 'redis', redisUrl: redis.url, env: { FLEETPULSE_CONFIG: JSON.stringify({ state: { redisKeyPrefix: `obs${process.pid}:` } }) } });
  t.after(() => cluster.stop());

  let accepted = 0;
  for (let i = 0; i < 10; i++) {
    const r = await postJson(`${cluster.url}/api/v1/ingest`, [{ source: `r${i}`, metric: 'cpu', value: i }, { source: `r${i}`, metric: 'mem', value: i }]);
    assert.equal(r.status, 202, r.body);
    accepted += 2;
  }
  let text = await scrape(cluster.adminUrl);
  assert.equal(sumSeries(text, 'fleetpulse_ingest_samples_total', { result: 'accepted' }), accepted);
  assert.ok(sumSeries(text, 'fleetpulse_redis_command_duration_seconds_count', { op: 'commit' }) >= 1, 'commits are timed');
  assert.equal(sumSeries(text, 'fleetpulse_redis_command_errors_total'), 0);
  assert.equal(sumSeries(text, 'fleetpulse_state_ready', { store: 'redis' }), 2);
  assert.equal(sumSeries(text, 'fleetpulse_state_apply_duration_seconds_count', { store: 'redis' }), 10, 'one apply per request');
  const q = await request(`${cluster.url}/api/v1/sources`);
  assert.equal(q.status, 200);
  text = await scrape(cluster.adminUrl);
  assert.ok(sumSeries(text, 'fleetpulse_redis_command_duration_seconds_count', { op: 'query' }) >= 1, 'queries are timed');

  // Redis goes away.
  const port = redis.port;
  await redis.stop();
  await until('both workers report their state store not ready', 20_000, async () => sumSeries(await scrape(cluster.adminUrl), 'fleetpulse_state_ready', { store: 'redis' }) === 0, 100);
  const notReady = await request(`${cluster.url}/readyz`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(notReady.json(), { status: 'not_ready', reason: 'redis unavailable' });
  let failed = 0;
  for (let i = 0; i < 6; i++) {
    const r = await postJson(`${cluster.url}/api/v1/ingest`, [{ source: 'down', metric: 'cpu', value: i }]);
    assert.equal(r.status, 503, r.body);
    assert.ok(r.headers['retry-after'] !== undefined, 'Retry-After on 503');
    failed += 1;
  }
  text = await scrape(cluster.adminUrl);
  assert.equal(sumSeries(text, 'fleetpulse_ingest_samples_total', { result: 'failed' }), failed, 'every sample not stored is counted');
  assert.equal(sumSeries(text, 'fleetpulse_ingest_requests_total', { code: '5xx' }), failed);

  // Redis comes back where the workers expect it.
  redis = await startRedis([], { port });
  await until('both workers are ready again', 30_000, async () => sumSeries(await scrape(cluster.adminUrl), 'fleetpulse_state_ready', { store: 'redis' }) === 2, 100);
  const again = await postJson(`${cluster.url}/api/v1/ingest`, { source: 'back', metric: 'cpu', value: 1 });
  assert.equal(again.status, 202, again.body);
  assert.equal((await request(`${cluster.url}/readyz`)).status, 200);

  const lines = logLines(cluster.proc.output());
  for (const workerId of [0, 1]) {
    const mine = lines.filter((l) => l.workerId === workerId && l.mod === 'redis');
    assert.equal(mine.filter((l) => l.msg.startsWith('redis unavailable')).length, 1, `worker ${workerId}: one "unavailable" line for one outage`);
    assert.equal(mine.filter((l) => l.msg === 'redis available').length, 2, `worker ${workerId}: available at start and after the outage`);
  }
});

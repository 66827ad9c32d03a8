/**
 * Redis mode across instances: two separate FleetPulse instances on one Redis — ingest through
 * one, every query answers the same on the other — and the same samples given to a memory-mode
 * instance give the same series, metrics and summaries. Within an instance, each source has one
 * writer (write affinity).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Redis } from 'ioredis';
import { skipUnless } from '../testing/binaries.js';
import { startRedis } from '../testing/redis.js';
import { startCluster, type RunningCluster } from '../testing/cluster.js';
import { getJson, postJson, request } from '../testing/http.js';
import { promTotal } from '../testing/prom.js';

const skip = skipUnless('redis-server');

async function waitReady(c: RunningCluster): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await request(`${c.url}/readyz`).catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${c.url}/readyz not 200 within 30 s: ${r?.body ?? 'no answer'}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

test('two instances on one Redis: ingest through one, identical answers from both (and from memory mode)', { skip, timeout: 120_000 }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const env = { FLEETPULSE_LOG_LEVEL: 'warn' };
  const [a, b, mem] = await Promise.all([
    startCluster({ workers: 2, state: 'redis', redisUrl: redis.url, env, readyTimeoutMs: 60_000 }),
    startCluster({ workers: 1, state: 'redis', redisUrl: redis.url, env, readyTimeoutMs: 60_000 }),
    startCluster({ workers: 1, state: 'memory', env, readyTimeoutMs: 60_000 }),
  ]);
  t.after(async () => {
    await Promise.all([a.stop(), b.stop(), mem.stop()]);
  });
  await Promise.all([waitReady(a), waitReady(b), waitReady(mem)]);

  // 40 sources × (cpu, mem, a tagged disk, a counter), several samples per bucket, values exact in binary.
  const now = Date.now();
  const bodies: unknown[][] = [];
  for (let r = 0; r < 8; r++) {
    const body: unknown[] = [];
    for (let s = 0; s < 40; s++) {
      const ts = now - 4000 + r * 250 + (s % 5);
      body.push({ source: `web-${s}`, metric: 'cpu', value: ((s * 7 + r * 3) % 40) / 4, ts, unit: '%' });
      body.push({ source: `web-${s}`, metric: 'mem', value: 1000 + s + r / 2, ts, unit: 'MB' });
      body.push({ source: `web-${s}`, metric: 'disk', value: r, ts, tags: { dev: s % 2 === 0 ? 'sda' : 'sdb' } });
      body.push({ source: `web-${s}`, metric: 'reqs', value: 100 * r + s, ts, kind: 'counter' });
    }
    bodies.push(body);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  for (const target of [a, mem]) {
    // Concurrent requests: in Redis mode they share group-commit ticks.
    const answers = await Promise.all(bodies.map((body) => postJson(`${target.url}/api/v1/ingest`, body, agent)));
    for (const r of answers) assert.equal(r.status, 202, r.body);
  }

  const paths = [
    '/api/v1/metrics',
    '/api/v1/summary?metric=cpu&window=1m',
    '/api/v1/summary?metric=mem&window=1m&by=avg',
    '/api/v1/summary?metric=disk&window=1m&by=max',
    '/api/v1/summary?metric=reqs&window=1m',
    '/api/v1/series?metric=cpu&source=web-3&from=-1m',
    '/api/v1/series?metric=disk&source=web-4&from=-1m&tags=dev=sda',
    '/api/v1/series?metric=disk&source=web-4&from=-1m',
    '/api/v1/series?metric=mem&source=web-39&from=-2h',
  ];
  for (const p of paths) {
    const fromA = await getJson(`${a.url}${p}`);
    assert.deepEqual(await getJson(`${b.url}${p}`), fromA, `${p}: the second instance answers differently`);
    assert.deepEqual(await getJson(`${mem.url}${p}`), fromA, `${p}: memory mode answers differently`);
  }
  const [sa, sb, sm] = await Promise.all([a, b, mem].map((c) => getJson<Array<{ source: string; lastSeen: number; metrics: string[] }>>(`${c.url}/api/v1/sources`)));
  assert.deepEqual(sb, sa, 'sources differ between the redis instances');
  assert.deepEqual(sa!.map((s) => [s.source, s.metrics]), sm!.map((s) => [s.source, s.metrics]));
  assert.equal(sa!.length, 40);
  const summary = await getJson<{ sources: number }>(`${b.url}/api/v1/summary?metric=cpu&window=1m`);
  assert.equal(summary.sources, 40);
});

test('several workers of one instance: each source is written by one worker, the others forward to it; answers exact', { skip, timeout: 120_000 }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = await startCluster({ workers: 2, state: 'redis', redisUrl: redis.url, env: { FLEETPULSE_LOG_LEVEL: 'warn' }, readyTimeoutMs: 60_000 });
  t.after(() => c.stop());
  await waitReady(c);
  const admin = new Redis(redis.port, '127.0.0.1');
  admin.on('error', () => {}); // Redis stops first at the end
  t.after(() => admin.disconnect());

  // 12 requests on new connections each (node:cluster deals them to both workers), every request
  // carrying all 30 sources: without write affinity both workers would write every source.
  const SOURCES = 30;
  const now = Date.now();
  const bodies = Array.from({ length: 12 }, (_, r) => Array.from({ length: SOURCES }, (_, s) => ({ source: `aff-${s}`, metric: 'cpu', value: r + s, ts: now - 3000 + r })));
  const agent = new http.Agent({ keepAlive: false });
  t.after(() => agent.destroy());
  const answers = await Promise.all(bodies.map((body) => postJson(`${c.url}/api/v1/ingest`, body, agent)));
  for (const r of answers) assert.equal(r.status, 202, r.body);

  const forwarded = await promTotal(c.adminUrl, 'fleetpulse_forwarded_samples_total');
  t.diagnostic(`samples forwarded to their source's writer: ${forwarded} of ${12 * SOURCES}`);
  assert.ok(forwarded > 0, 'samples reaching the other worker were forwarded');
  assert.ok(forwarded < 12 * SOURCES, 'each worker wrote its own sources itself');
  const writers = await Promise.all(Array.from({ length: SOURCES }, (_, s) => admin.smembers(`fp:{s:aff-${s}}:w`)));
  for (const [s, w] of writers.entries()) assert.equal(w.length, 1, `aff-${s} is written by one worker, not ${JSON.stringify(w)}`);
  assert.equal(new Set(writers.map((w) => w[0])).size, 2, 'the sources are spread over both workers');

  const summary = await getJson<{ sources: number }>(`${c.url}/api/v1/summary?metric=cpu&window=1m`);
  assert.equal(summary.sources, SOURCES);
  let expected = 0;
  for (const body of bodies) for (const x of body) expected += x.value;
  const perSource = await Promise.all(Array.from({ length: SOURCES }, (_, s) => getJson<{ points: number[][] }>(`${c.url}/api/v1/series?metric=cpu&source=aff-${s}&from=-1m`)));
  const counted = perSource.reduce((n, a) => n + a.points.reduce((m, p) => m + p[1]!, 0), 0);
  const summed = perSource.reduce((n, a) => n + a.points.reduce((m, p) => m + p[2]!, 0), 0);
  assert.equal(counted, 12 * SOURCES, 'every sample counted once');
  assert.equal(summed, expected, 'sums exact');
});

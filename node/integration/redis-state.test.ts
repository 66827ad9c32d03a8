/**
 * Redis mode across instances: two separate FleetPulse instances on one Redis — ingest through
 * one, every query answers the same on the other — and the same samples given to a memory-mode
 * instance give the same series, metrics and summaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { skipUnless } from '../testing/binaries.js';
import { startRedis } from '../testing/redis.js';
import { startCluster, type RunningCluster } from '../testing/cluster.js';
import { getJson, postJson, request } from '../testing/http.js';

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

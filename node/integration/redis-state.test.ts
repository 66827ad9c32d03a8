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
import { startRedis, type RunningRedis } from '../testing/redis.js';
import { startCluster, type RunningCluster } from '../testing/cluster.js';
import { getJson, postJson, request } from '../testing/http.js';
import { promTotal } from '../testing/prom.js';
import { loop, storedCounts } from '../testing/load.js';
import { until } from '../testing/until.js';

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

/** A private redis-server and one ready Redis-mode instance of `workers` on it, both stopped after the test. */
async function redisInstance(t: { after(fn: () => unknown): void }, workers: number): Promise<{ redis: RunningRedis; c: RunningCluster }> {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = await startCluster({ workers, state: 'redis', redisUrl: redis.url, env: { FLEETPULSE_LOG_LEVEL: 'warn' }, readyTimeoutMs: 60_000 });
  t.after(() => c.stop());
  await waitReady(c);
  return { redis, c };
}

test('several workers of one instance: each source is written by one worker, the others forward to it; answers exact', { skip, timeout: 120_000 }, async (t) => {
  const { redis, c } = await redisInstance(t, 2);
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

test('scale 3 → 2 → 3 under multi-source load: writers change with the membership, every acknowledged sample counted exactly once', { skip, timeout: 180_000 }, async (t) => {
  const { c } = await redisInstance(t, 3);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());

  // Every request carries 8 sources of its own (so each source's count says what became of its
  // request), spread over the owners: most requests are split and partly forwarded.
  const PER = 8;
  const outcomes: Array<{ sources: string[]; status: number | string }> = [];
  let stop = false;
  const load = loop(6, () => stop, async (i) => {
    const sources = Array.from({ length: PER }, (_, k) => `sc${i}-${k}`);
    const body = JSON.stringify(sources.map((source) => ({ source, metric: 'scale', value: 1 })));
    const a = await request(`${c.url}/api/v1/ingest`, { method: 'POST', agent, timeoutMs: 15_000, headers: { 'content-type': 'application/json' }, body }).catch((e: Error) => e);
    outcomes.push({ sources, status: a instanceof Error ? `error: ${a.message.slice(0, 60)}` : a.status });
  });
  const acked = (): number => outcomes.filter((o) => o.status === 202).length;
  const scaleTo = async (n: number): Promise<void> => {
    const a = await request(`${c.adminUrl}/admin/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workers: n }), timeoutMs: 60_000 });
    assert.equal(a.status, 200, a.body);
  };
  try {
    await until('100 acknowledged requests', 30_000, () => acked() >= 100);
    await scaleTo(2);
    const down = acked();
    await until('100 more acknowledged requests after scaling to 2', 30_000, () => acked() >= down + 100);
    await scaleTo(3);
    const up = acked();
    await until('100 more acknowledged requests after scaling to 3', 30_000, () => acked() >= up + 100);
  } finally {
    stop = true;
    await load;
  }
  assert.ok(await promTotal(c.adminUrl, 'fleetpulse_forwarded_samples_total') > 0, 'parts were forwarded to their writers');

  const counts = await storedCounts(c.url, 'scale', outcomes.flatMap((o) => o.sources), agent);
  const refused = outcomes.filter((o) => o.status !== 202);
  for (const o of outcomes) {
    for (const s of o.sources) {
      const n = counts.get(s)!;
      if (o.status === 202) assert.equal(n, 1, `acknowledged ${s} counted ${n} times`);
      else assert.ok(n <= 1, `refused (${o.status}) ${s} counted ${n} times`);
    }
  }
  const by = new Map<string, number>();
  for (const o of refused) by.set(String(o.status), (by.get(String(o.status)) ?? 0) + 1);
  t.diagnostic(`${outcomes.length} requests of ${PER} sources: ${acked()} acknowledged and counted exactly once; refused ${JSON.stringify(Object.fromEntries(by))}`);
  assert.ok(refused.length <= outcomes.length / 10, `few requests refused while scaling: ${JSON.stringify(Object.fromEntries(by))}`);
});

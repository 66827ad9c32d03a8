/**
 * Redis Cluster (3 masters, started here): the StateStore contract and the randomized memory
 * comparison on a cluster-backed store (given the seed list), then two FleetPulse instances, each
 * given one node (the cluster is detected) — ingest through one, identical answers from the other,
 * and the keys spread over every master (hash tags keep each Lua call in one slot).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { skipUnless } from '../testing/binaries.js';
import { startRedisCluster, type RunningRedisCluster } from '../testing/redis.js';
import { makeRedisStore } from '../testing/redis-store.js';
import { startCluster } from '../testing/cluster.js';
import { getJson, postJson } from '../testing/http.js';
import { baseTime, batchOf, SMALL_RETENTION, storeContract } from '../state/store.contract.js';
import { compareStores, makeWorkload, memoryReference } from '../state/store.differential.js';

const skip = skipUnless('redis-server') || skipUnless('redis-cli');

describe('redis cluster', { skip }, () => {
  let rc: RunningRedisCluster;
  before(async () => {
    rc = await startRedisCluster(3);
  });
  after(async () => {
    await rc?.stop();
  });

  storeContract('redis cluster', (o) => makeRedisStore(rc.url, o));

  test('identical answers to the memory store (randomized, cluster-backed)', async (t) => {
    const w = makeWorkload(21, baseTime(5000), { batches: 60, sources: 9, lateMs: 30_000 });
    const ref = memoryReference(SMALL_RETENTION);
    const store = await makeRedisStore(rc.url, { retention: SMALL_RETENTION, maxSeries: 100_000, streamSeqTtlMs: 900_000, now: Date.now });
    t.after(() => store.close());
    assert.equal(store.isCluster, true);
    for (const b of w.batches) {
      ref.partition.apply(batchOf(b.samples), b.receivedAt);
      await store.apply(batchOf(b.samples), b.receivedAt);
    }
    await compareStores(ref, store, w, SMALL_RETENTION, { drainUpdates: true });
  });

  test('two FleetPulse instances on one Redis Cluster: ingest through one, the same answers from both', async (t) => {
    const env = { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ state: { redisKeyPrefix: 'itc:' } }) };
    const [a, b] = await Promise.all([
      startCluster({ workers: 2, state: 'redis', redisUrl: `redis://127.0.0.1:${rc.nodes[0]!.port}`, env, readyTimeoutMs: 60_000 }),
      startCluster({ workers: 1, state: 'redis', redisUrl: `redis://127.0.0.1:${rc.nodes[1]!.port}`, env, readyTimeoutMs: 60_000 }),
    ]);
    t.after(async () => {
      await Promise.all([a.stop(), b.stop()]);
    });
    await waitReady(a.url);
    await waitReady(b.url);
    const now = Date.now();
    const samples = [];
    for (let s = 0; s < 60; s++) {
      for (const metric of ['cpu', 'mem']) samples.push({ source: `host-${s}`, metric, value: (s % 7) + 0.5, ts: now - 2000 + (s % 3) * 100, unit: '%' });
    }
    for (let i = 0; i < samples.length; i += 30) {
      const r = await postJson(`${a.url}/api/v1/ingest`, samples.slice(i, i + 30));
      assert.equal(r.status, 202, r.body);
    }
    const paths = ['/api/v1/metrics', '/api/v1/sources', '/api/v1/summary?metric=cpu&window=1m', '/api/v1/series?metric=mem&source=host-5&from=-1m'];
    for (const p of paths) {
      const [x, y] = [await getJson(`${a.url}${p}`), await getJson(`${b.url}${p}`)];
      assert.deepEqual(y, x, `${p} differs between the instances`);
    }
    const summary = await getJson<{ sources: number }>(`${b.url}/api/v1/summary?metric=cpu&window=1m`);
    assert.equal(summary.sources, 60);
    // Sources hash to slots on every master.
    for (const n of rc.nodes) {
      const r = new Redis(n.port, '127.0.0.1');
      const keys = await r.keys('itc:{s:*');
      r.disconnect();
      assert.ok(keys.length > 0, `master ${n.port} holds source keys`);
    }
  });
});

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/readyz not 200 within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

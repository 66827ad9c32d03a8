/**
 * Redis outage under load (issue 5 §5): redis-server is killed mid-load and started again on the
 * same port. During the outage ingest answers 503 with Retry-After and /readyz is 503; afterwards
 * everything resumes without any action, no worker crashed, and every acknowledged sample is
 * counted exactly once.
 *
 * Redis runs with an append-only file fsynced on every write (as a production Redis that must not
 * lose acknowledged data would), so what was acknowledged before the crash survives it. Each
 * request carries its own source, so the test can check every request separately: acknowledged →
 * exactly its samples; refused → none of them, or — when Redis died with the write applied but
 * the reply unsent — all of them, never a part or a double.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnless } from '../testing/binaries.js';
import { startRedis, type RunningRedis } from '../testing/redis.js';
import { startCluster } from '../testing/cluster.js';
import { getJson, request } from '../testing/http.js';
import { storedCounts } from '../testing/load.js';

const skip = skipUnless('redis-server');
const SAMPLES_PER_REQUEST = 20;
const CLIENTS = 6;
const MAX_REQUESTS = 4000;

interface Outcome {
  source: string;
  status: number;
  retryAfter: string | undefined;
}

async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('redis killed and restarted mid-load: 503 + Retry-After, readyz 503, recovery alone, acked samples counted exactly once', { skip, timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fp-redis-aof-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const durable = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  let redis: RunningRedis = await startRedis(durable);
  t.after(() => redis.stop());
  const fp = await startCluster({ workers: 2, state: 'redis', redisUrl: redis.url, env: { FLEETPULSE_LOG_LEVEL: 'warn' }, readyTimeoutMs: 60_000 });
  t.after(() => fp.stop());
  await until(async () => (await request(`${fp.url}/readyz`).catch(() => undefined))?.status === 200, 30_000, 'readyz 200');
  const pidsBefore = (await getJson<{ workers: Array<{ pid: number }> }>(`${fp.adminUrl}/admin/cluster`)).workers.map((w) => w.pid).sort();

  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  t.after(() => agent.destroy());
  const outcomes: Outcome[] = [];
  let next = 0;
  let stop = false;
  const client = async (): Promise<void> => {
    while (!stop && next < MAX_REQUESTS) {
      const source = `o-${next++}`;
      const now = Date.now();
      const body = Array.from({ length: SAMPLES_PER_REQUEST }, (_, j) => ({ source, metric: 'load', value: j, ts: now - 1000 + j }));
      try {
        const r = await request(`${fp.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), agent });
        const retryAfter = r.headers['retry-after'];
        outcomes.push({ source, status: r.status, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter });
      } catch {
        outcomes.push({ source, status: 0, retryAfter: undefined });
      }
      // A 503 says "retry later": a well-behaved client backs off a little instead of spinning.
      if (outcomes[outcomes.length - 1]!.status !== 202) await new Promise((r) => setTimeout(r, 20));
    }
  };
  const acked = (): number => outcomes.filter((o) => o.status === 202).length;
  const load = Promise.all(Array.from({ length: CLIENTS }, client));
  try {
    await until(() => acked() >= 150, 30_000, '150 acknowledged requests before the outage');

    // Crash Redis mid-load.
    redis.proc.child.kill('SIGKILL');
    await redis.proc.exited;
    await until(async () => (await request(`${fp.url}/readyz`).catch(() => undefined))?.status === 503, 15_000, '/readyz 503 during the outage');
    await until(() => outcomes.some((o) => o.status === 503), 15_000, 'an ingest 503 during the outage');
    const ackedBeforeRestart = acked();

    redis = await startRedis(durable, { port: redis.port });
    await until(async () => (await request(`${fp.url}/readyz`).catch(() => undefined))?.status === 200, 30_000, '/readyz 200 after Redis returned');
    await until(() => acked() >= ackedBeforeRestart + 150, 30_000, '150 more acknowledged requests after Redis returned');
  } finally {
    stop = true;
    await load;
  }

  const refused = outcomes.filter((o) => o.status === 503);
  assert.ok(refused.length > 0);
  for (const o of refused) assert.ok(o.retryAfter !== undefined && Number(o.retryAfter) >= 1, `503 without Retry-After for ${o.source}`);
  const unexpected = outcomes.filter((o) => o.status !== 202 && o.status !== 503);
  assert.deepEqual(unexpected.map((o) => o.status), [], 'only 202 and 503 answers');

  // Count every request's samples as stored (each request has its own source).
  const counts = await storedCounts(fp.url, 'load', outcomes.map((o) => o.source), agent);
  let inDoubt = 0;
  for (const o of outcomes) {
    const n = counts.get(o.source)!;
    if (o.status === 202) assert.equal(n, SAMPLES_PER_REQUEST, `acknowledged ${o.source}: counted ${n} of ${SAMPLES_PER_REQUEST}`);
    else {
      assert.ok(n === 0 || n === SAMPLES_PER_REQUEST, `refused ${o.source}: ${n} samples stored, a part`);
      if (n > 0) inDoubt++;
    }
  }
  const pidsAfter = (await getJson<{ workers: Array<{ pid: number }> }>(`${fp.adminUrl}/admin/cluster`)).workers.map((w) => w.pid).sort();
  assert.deepEqual(pidsAfter, pidsBefore, 'no worker crashed or restarted');
  t.diagnostic(`${outcomes.length} requests: ${acked()} acknowledged and counted exactly once, ${refused.length} refused with 503 (${inDoubt} of them stored: Redis died after applying, before replying)`);
});

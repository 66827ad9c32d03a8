/**
 * Outages of FleetPulse's dependencies under load (issue 9 §3), real processes on loopback:
 * - Redis frozen with SIGSTOP for 10 s (hung, not dead: its sockets stay open and silent) while
 *   clients push and a flood pushes big batches: answers are 503 with Retry-After (state
 *   unavailable after ingest.applyTimeoutMs, or overloaded once ingest.maxPendingSamples is
 *   reached), pending samples and worker memory stay bounded, nothing crashes, and after SIGCONT
 *   everything recovers by itself; every acknowledged request is stored exactly once, a refused
 *   one wholly or not at all.
 * - Caddy killed with SIGKILL under load: the primary restarts it, pushes succeed again without
 *   any action, no worker restarts, and stream clients reconnect through the new Caddy.
 * Redis killed and restarted under load is node/integration/redis-outage.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { startCluster } from '../testing/cluster.js';
import { startRedis } from '../testing/redis.js';
import { skipUnless } from '../testing/binaries.js';
import { getJson, request } from '../testing/http.js';
import { storedCounts } from '../testing/load.js';
import { freezeProcess } from '../testing/process.js';
import { promTotal } from '../testing/prom.js';
import { until } from '../testing/until.js';
import { connectStream } from '../testing/ws-client.js';

interface Outcome { source: string; status: number; code: string; retryAfter: string | undefined }

/** Per worker: small, so the flood below reaches it while Redis is frozen. */
const MAX_PENDING = 4000;
const FLOOD_LANES = 16;

function rssMiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0') / 1024;
  } catch {
    return 0;
  }
}

test('Redis frozen (SIGSTOP) for 10 s under load: 503s with Retry-After, bounded memory, no crash, recovery by itself, acked exactly once', { skip: skipUnless('redis-server'), timeout: 180_000 }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  let resume = (): void => {};
  t.after(() => resume()); // a stopped Redis cannot shut down
  const fp = await startCluster({
    workers: 2, state: 'redis', redisUrl: redis.url, readyTimeoutMs: 60_000,
    env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ ingest: { applyTimeoutMs: 2000, maxPendingSamples: MAX_PENDING } }) },
  });
  t.after(() => fp.stop());
  const workers = async (): Promise<Array<{ pid: number }>> => (await getJson<{ workers: Array<{ pid: number }> }>(`${fp.adminUrl}/admin/cluster`)).workers;
  const pidsBefore = (await workers()).map((w) => w.pid).sort();
  const rssBefore = pidsBefore.map(rssMiB);

  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());
  const outcomes: Outcome[] = [];
  let next = 0;
  let stop = false;
  let flood = false;
  const post = async (source: string, n: number): Promise<Outcome> => {
    const now = Date.now();
    const body = JSON.stringify(Array.from({ length: n }, (_, j) => ({ source, metric: 'freeze', value: j, ts: now - 1000 + (j % 1000) })));
    try {
      const r = await request(`${fp.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, agent, timeoutMs: 30_000 });
      const ra = r.headers['retry-after'];
      return { source, status: r.status, code: r.status === 202 ? '' : (r.json<{ error?: { code?: string } }>().error?.code ?? '?'), retryAfter: Array.isArray(ra) ? ra[0] : ra };
    } catch {
      return { source, status: 0, code: 'network', retryAfter: undefined };
    }
  };
  // Checked clients: 10 samples per request, each request its own source.
  const client = async (): Promise<void> => {
    while (!stop && next < 3000) {
      const o = await post(`f-${next++}`, 10);
      outcomes.push(o);
      await new Promise((r) => setTimeout(r, o.status === 202 ? 20 : 100));
    }
  };
  // The flood: 1,000-sample batches from FLOOD_LANES lanes while Redis is frozen, past maxPendingSamples.
  let floodOutcomes = 0;
  const floodCodes = new Map<string, number>();
  const flooder = async (lane: number): Promise<void> => {
    let i = 0;
    while (!stop) {
      if (!flood) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const o = await post(`flood-${lane}-${i++}`, 1000);
      floodOutcomes++;
      floodCodes.set(o.code, (floodCodes.get(o.code) ?? 0) + 1);
    }
  };
  const acked = (): number => outcomes.filter((o) => o.status === 202).length;
  const load = Promise.all([...Array.from({ length: 6 }, client), ...Array.from({ length: FLOOD_LANES }, (_, i) => flooder(i))]);
  let maxPending = 0;
  let maxRssGrowth = 0;
  try {
    await until('100 acknowledged requests before the freeze', 30_000, () => acked() >= 100);
    resume = freezeProcess(redis.proc.child.pid!);
    flood = true;
    const frozenAt = Date.now();
    while (Date.now() - frozenAt < 10_000) {
      maxPending = Math.max(maxPending, await promTotal(fp.adminUrl, 'fleetpulse_ingest_pending_samples'));
      const rss = (await workers()).map((w) => rssMiB(w.pid));
      maxRssGrowth = Math.max(maxRssGrowth, ...rss.map((r, i) => r - (rssBefore[i] ?? r)));
      await new Promise((r) => setTimeout(r, 500));
    }
    const readyDuring = (await request(`${fp.url}/readyz`).catch(() => undefined))?.status;
    assert.ok(outcomes.some((o) => o.status === 503), 'the checked clients got 503 while Redis was frozen');
    flood = false;
    resume();
    const ackedAtResume = acked();
    await until('/readyz 200 after SIGCONT', 30_000, async () => (await request(`${fp.url}/readyz`).catch(() => undefined))?.status === 200);
    await until('100 more acknowledged requests after SIGCONT', 30_000, () => acked() >= ackedAtResume + 100);
    t.diagnostic(`/readyz during the freeze: ${readyDuring}; flood: ${floodOutcomes} requests ${JSON.stringify(Object.fromEntries(floodCodes))}`);
  } finally {
    stop = true;
    resume();
    await load;
  }

  t.diagnostic(`max pending samples ${maxPending} (limit ${MAX_PENDING} per worker), max worker RSS growth ${maxRssGrowth.toFixed(0)} MiB`);
  assert.ok(maxPending <= 2 * (MAX_PENDING + 1000), `pending samples bounded (${maxPending})`);
  assert.ok((floodCodes.get('overloaded') ?? 0) > 0, 'the flood was shed with 503 overloaded once pending samples reached the limit');
  assert.ok(maxRssGrowth < 300, `worker memory bounded (grew ${maxRssGrowth.toFixed(0)} MiB)`);
  const refused = outcomes.filter((o) => o.status !== 202);
  for (const o of refused) {
    assert.equal(o.status, 503, `only 503s: ${o.source} got ${o.status} ${o.code}`);
    assert.ok(['state_unavailable', 'overloaded'].includes(o.code), o.code);
    assert.ok(Number(o.retryAfter) >= 1, 'Retry-After');
  }
  assert.deepEqual((await workers()).map((w) => w.pid).sort(), pidsBefore, 'no worker crashed');

  // Every checked request: acknowledged → exactly its samples; refused → all or none.
  const counts = await storedCounts(fp.url, 'freeze', outcomes.map((o) => o.source), agent);
  let inDoubt = 0;
  for (const o of outcomes) {
    const n = counts.get(o.source)!;
    if (o.status === 202) assert.equal(n, 10, `acknowledged ${o.source} counted ${n} of 10`);
    else {
      assert.ok(n === 0 || n === 10, `refused ${o.source}: ${n} of 10 stored`);
      if (n > 0) inDoubt++;
    }
  }
  t.diagnostic(`${outcomes.length} checked requests: ${acked()} acknowledged and counted exactly once, ${refused.length} refused with 503 (${inDoubt} of them stored once Redis woke up: timed out, then applied)`);
});

/** Pid of the `caddy` child of the primary (from /proc). */
function caddyPid(primaryPid: number): number | undefined {
  const kids = readFileSync(`/proc/${primaryPid}/task/${primaryPid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '').map(Number);
  return kids.find((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0]!.endsWith('caddy');
    } catch {
      return false;
    }
  });
}

test('Caddy killed (SIGKILL) under load: restarted by the primary, pushes and streams recover without action, no worker restarts', { skip: skipUnless('caddy'), timeout: 120_000 }, async (t) => {
  const fp = await startCluster({ workers: 2, balancer: 'caddy', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => fp.stop());
  const pidsBefore = (await getJson<{ workers: Array<{ pid: number }> }>(`${fp.adminUrl}/admin/cluster`)).workers.map((w) => w.pid).sort();
  const first = caddyPid(fp.proc.child.pid!);
  assert.ok(first !== undefined, 'caddy runs as a child of the primary');

  const statuses = new Map<string, number>();
  let okAfterKill = 0;
  let killed = false;
  let stop = false;
  const client = async (lane: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const a = await request(`${fp.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-source': `cd-${lane}` }, body: JSON.stringify({ source: `cd-${lane}`, metric: 'caddy.m', value: i }), timeoutMs: 10_000 }).catch((e: Error) => ({ status: 0, err: e }));
      const key = a.status === 0 ? 'network' : String(a.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (killed && a.status === 202) okAfterKill++;
      if (a.status !== 202) await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stream = await connectStream(fp.url, { stream: `caddy-kill-${Date.now()}` });
  stream.send({ seq: 1, source: 'cd-s', metric: 'caddy.m', value: 1 });
  await stream.waitAck(1);
  const load = Promise.all(Array.from({ length: 4 }, (_, i) => client(i)));
  try {
    await until('pushes flowing through Caddy', 20_000, () => (statuses.get('202') ?? 0) >= 50);
    process.kill(first, 'SIGKILL');
    killed = true;
    // The proxied stream dies with Caddy; a client reconnects to the new one and resumes.
    const closed = await stream.closed;
    t.diagnostic(`stream closed with ${closed.code} when Caddy died`);
    await until('a new caddy process', 30_000, () => {
      const p = caddyPid(fp.proc.child.pid!);
      return p !== undefined && p !== first;
    });
    await until('pushes succeed again through the new Caddy', 30_000, () => okAfterKill >= 50);
    const again = await connectStream(fp.url, { stream: `caddy-kill-2-${Date.now()}` });
    t.after(() => again.close());
    again.send({ seq: 1, source: 'cd-s', metric: 'caddy.m', value: 2 });
    await again.waitAck(1, 15_000);
  } finally {
    stop = true;
    await load;
  }
  t.diagnostic(`push outcomes across the Caddy restart: ${JSON.stringify(Object.fromEntries(statuses))}`);
  const pidsAfter = (await getJson<{ workers: Array<{ pid: number }> }>(`${fp.adminUrl}/admin/cluster`)).workers.map((w) => w.pid).sort();
  assert.deepEqual(pidsAfter, pidsBefore, 'no worker restarted');
  assert.equal(fp.proc.child.exitCode, null, 'the primary is still running');
  for (const k of statuses.keys()) assert.ok(['202', 'network', '502', '503'].includes(k), `unexpected answer ${k}`);
});

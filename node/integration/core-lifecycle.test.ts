/**
 * Process lifecycle of a real cluster: the same routes over HTTP/1.1 and h2c, a crashed worker
 * restarted by the primary, and a graceful SIGTERM that finishes an in-flight request and exits 0
 * within 5 s — or, when a worker cannot stop, kills it at the shutdown budget and says which.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SINGLE_THREADED_GC, WORKER_SEMI_SPACE_MIB } from '../primary/worker-flags.js';
import { startCluster } from '../testing/cluster.js';
import { getJson, h2Session, postJson, request } from '../testing/http.js';
import { logLines, workerExits } from '../testing/log-lines.js';

interface ClusterInfo { balancer: string; state: string; workers: Array<{ id: number; pid: number }> }

test('HTTP/1.1 and h2c (prior knowledge) serve the same routes', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const h2 = h2Session(cluster.url);
  t.after(() => h2.close());

  const sample = JSON.stringify({ source: 'h2-host', metric: 'cpu', value: 3 });
  const p2 = await h2.request('/api/v1/ingest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample });
  assert.equal(p2.status, 202);
  assert.deepEqual(p2.json(), { accepted: 1 });
  const p1 = await postJson(`${cluster.url}/api/v1/ingest`, { source: 'h1-host', metric: 'cpu', value: 5 });
  assert.equal(p1.status, 202);
  const legacy = await h2.request('/api/metrics', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"server_id":7,"metric_type":"cpu","value":53.2,"unit":"%"}' });
  assert.equal(legacy.status, 201);

  for (const path of ['/api/v1/sources', '/api/v1/metrics', '/api/v1/summary?metric=cpu', '/api/v1/series?metric=cpu&source=h2-host', '/healthz', '/readyz']) {
    const a = await h2.request(path);
    const b = await request(`${cluster.url}${path}`);
    assert.equal(a.status, 200, path);
    assert.equal(b.status, 200, path);
    if (!path.startsWith('/api/v1/sources')) assert.deepEqual(a.json(), b.json(), path);
  }
  const summary = await getJson<{ sources: number; max: number }>(`${cluster.url}/api/v1/summary?metric=cpu`);
  assert.deepEqual([summary.sources, summary.max], [3, 53.2]);
  const notFound = await h2.request('/nope');
  assert.equal(notFound.status, 404);
  const wrongMethod = await request(`${cluster.url}/api/v1/ingest`);
  assert.equal(wrongMethod.status, 405);
});

/** A worker of a 2-worker cluster runs with primary/worker-flags.ts' young-generation size, and with single-threaded GC when 2 workers fill the cores. */
function assertWorkerFlags(pid: number): void {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(argv.includes(`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`), argv.join(' '));
  assert.equal(argv.includes(SINGLE_THREADED_GC), 2 >= availableParallelism(), argv.join(' '));
}

test('a crashed worker is restarted and the cluster serves again', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const before = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  assert.equal(before.workers.length, 2);
  for (const w of before.workers) assertWorkerFlags(w.pid);
  const victim = before.workers[0]!;
  process.kill(victim.pid, 'SIGKILL');

  // Wait (bounded) for the primary to report a new process in the victim's slot.
  const deadline = Date.now() + 20_000;
  let after: ClusterInfo;
  for (;;) {
    after = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
    const slot = after.workers.find((w) => w.id === victim.id);
    if (after.workers.length === 2 && slot !== undefined && slot.pid !== victim.pid) break;
    assert.ok(Date.now() < deadline, `worker ${victim.id} was not restarted within 20 s: ${JSON.stringify(after)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match((await request(`${cluster.adminUrl}/metrics`)).body, /fleetpulse_worker_restarts_total 1/);
  assertWorkerFlags(after.workers.find((w) => w.id === victim.id)!.pid);
  for (let i = 0; i < 10; i++) {
    const r = await postJson(`${cluster.url}/api/v1/ingest`, { source: `after-${i}`, metric: 'm', value: i });
    assert.equal(r.status, 202);
  }
  assert.equal((await getJson<unknown[]>(`${cluster.url}/api/v1/sources`)).length, 10);
});

test('SIGTERM finishes the in-flight request and exits 0 within 5 s', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const url = new URL(`${cluster.url}/api/v1/ingest`);
  const body = JSON.stringify({ source: 'late', metric: 'm', value: 1 });

  // Send the headers and half the body, then ask the cluster to stop, then finish the body.
  const res = new Promise<number>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, agent: false }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    req.flushHeaders();
    setImmediate(() => {
      // The request is on the wire; now SIGTERM, then complete it.
      cluster.proc.child.kill('SIGTERM');
      cluster.proc.waitForLine(/"msg":"shutting down"/, 5000, 'shutdown log').then(() => req.end(body.slice(10)), reject);
    });
  });
  const started = Date.now();
  assert.equal(await res, 202);
  const code = await cluster.proc.exited;
  const tookMs = Date.now() - started;
  assert.equal(code, 0, cluster.proc.output().slice(-2000));
  assert.ok(tookMs < 5000, `took ${tookMs} ms`);
});

test('SIGTERM with a frozen worker: the primary kills it at the shutdown budget, says which slot, and still exits', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const info = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  const frozen = info.workers.find((w) => w.id === 1)!;
  // A worker that cannot run its shutdown (SIGSTOP: hung, not dead) until SIGKILL ends it.
  process.kill(frozen.pid, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(frozen.pid, 'SIGCONT');
    } catch {
      // already gone: killed by the primary, as it should be
    }
  });
  const started = Date.now();
  cluster.proc.child.kill('SIGTERM');
  const code = await cluster.proc.exited;
  const tookMs = Date.now() - started;
  assert.equal(code, 0, cluster.proc.output().slice(-2000));
  assert.ok(tookMs < 6000, `took ${tookMs} ms`);
  const warned = logLines(cluster.proc.output()).find((l) => l.role === 'primary' && l.msg === 'workers did not stop within the shutdown budget; killing them');
  assert.ok(warned !== undefined, 'the primary warned');
  assert.equal(warned.level, 40);
  assert.deepEqual(warned.slots, [1]);
  assert.deepEqual(workerExits(cluster.proc.output()), [[0, 0, null], [1, null, 'SIGKILL']], 'slot 0 stopped by itself, slot 1 was killed');
});

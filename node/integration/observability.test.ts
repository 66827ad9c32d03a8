/**
 * Observability of a real cluster (primary + 2 workers):
 * - docs/metrics.md against what admin /metrics really exposes, both directions, label names too,
 *   and `promtool check metrics` clean;
 * - the ingest stage clock: decode/apply/forward stages grow with the work that is theirs;
 * - a stopped (SIGSTOP) worker is left out of the scrape and counted, the scrape still answers 200
 *   within the scraper's timeout, and the worker is back in the next scrape once it runs again;
 * - /healthz, /readyz and /admin/cluster shapes; X-Request-Id honoured or generated (h1 and h2c)
 *   and present in the request's log line;
 * - the startup config line carries the configuration without secrets;
 * - --log-level / FLEETPULSE_LOG_LEVEL: the flag wins over env, lines below the level are not
 *   written, lines at or above it are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI, startCluster } from '../testing/cluster.js';
import { getJson, h2Session, request } from '../testing/http.js';
import { skipUnless } from '../testing/binaries.js';
import { freezeProcess } from '../testing/process.js';
import { until } from '../testing/until.js';
import { familyOf, parseCatalogue, parseExposition, sumSeries } from '../testing/prom-text.js';

const catalogue = parseCatalogue(readFileSync(fileURLToPath(new URL('../../../docs/metrics.md', import.meta.url)), 'utf8'));

interface ClusterInfo {
  balancer: string;
  state: string;
  workers: Array<{ id: number; pid: number; address: string; uptimeS: number; samplesPerSec: number; connections: number }>;
}

type LogLine = Record<string, unknown> & { level: number; msg: string };

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

function promtoolCheck(text: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, out }));
    p.stdin.end(text);
  });
}

test('admin /metrics exposes exactly the documented catalogue, and promtool finds nothing', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  // Some traffic first, so histograms and labelled counters have series too.
  const r = await request(`${cluster.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"source":"cat-1","metric":"cpu","value":1}' });
  assert.equal(r.status, 202);
  await request(`${cluster.url}/api/v1/summary?metric=cpu`);

  const res = await request(`${cluster.adminUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const e = parseExposition(res.body);

  const exposed = [...e.types.keys()].filter((n) => n.startsWith('fleetpulse_'));
  assert.deepEqual(exposed.filter((n) => !catalogue.has(n)), [], 'exposed but not documented in docs/metrics.md');
  assert.deepEqual([...catalogue.keys()].filter((n) => !e.types.has(n)), [], 'documented but not exposed');
  assert.deepEqual([...e.types.keys()].filter((n) => !n.startsWith('fleetpulse_')), [], 'one application prefix');
  for (const [name, doc] of catalogue) assert.equal(e.types.get(name), doc.type, `${name}: type`);
  for (const s of e.samples) {
    const doc = catalogue.get(familyOf(s.name, e.types));
    assert.ok(doc !== undefined, `${s.name}: undocumented series`);
    for (const l of Object.keys(s.labels)) {
      assert.ok(l === 'worker' || l === 'le' || doc.labels.includes(l), `${s.name}: label ${l} is not documented`);
    }
  }
  // Both workers and the primary report their runtime metrics under one name.
  const rss = e.samples.filter((s) => s.name === 'fleetpulse_process_resident_memory_bytes').map((s) => s.labels.worker).sort();
  assert.deepEqual(rss, ['0', '1', 'primary']);
  assert.equal(sumSeries(e, 'fleetpulse_ingest_samples_total', { result: 'accepted' }), 1);
  assert.equal(sumSeries(e, 'fleetpulse_state_ready', { store: 'memory' }), 2, 'both workers ready');
  assert.equal(sumSeries(e, 'fleetpulse_balancer_upstream_up'), 2, 'cluster mode: two live slots');

  if (skipUnless('promtool') === false) {
    const check = await promtoolCheck(res.body);
    assert.equal(check.out, '', `promtool check metrics:\n${check.out}`);
    assert.equal(check.code, 0);
  }
});

test('ingest stage seconds: decode and apply grow with every batch, forward_encode/forward_decode with forwarded ones', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const stage = (e: ReturnType<typeof parseExposition>, name: string, worker?: string): number =>
    sumSeries(e, 'fleetpulse_ingest_stage_seconds_total', worker === undefined ? { stage: name } : { stage: name, worker });
  const scrape = async (): Promise<ReturnType<typeof parseExposition>> => parseExposition((await request(`${cluster.adminUrl}/metrics`)).body);
  const before = await scrape();
  for (const name of ['decode', 'apply', 'forward_encode', 'forward_decode']) {
    assert.ok(before.samples.some((s) => s.name === 'fleetpulse_ingest_stage_seconds_total' && s.labels.stage === name), `stage ${name} is exported from the start`);
  }
  // 400 sources per request: both workers own some of every batch, so each forwards to the other.
  const body = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ source: `stage-${i % 400}`, metric: `m${i % 5}`, value: i })));
  for (let r = 0; r < 10; r++) {
    const res = await request(`${cluster.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 202);
  }
  const after = await scrape();
  const forwarded = sumSeries(after, 'fleetpulse_forwarded_samples_total') - sumSeries(before, 'fleetpulse_forwarded_samples_total');
  assert.ok(forwarded > 0, 'some samples were forwarded');
  for (const name of ['decode', 'apply', 'forward_encode', 'forward_decode']) {
    assert.ok(stage(after, name) > stage(before, name), `${name}: ${stage(before, name)} s → ${stage(after, name)} s`);
  }
  // Every worker that applied forwarded samples decoded frames itself; the stage is per worker.
  const workers = [...new Set(after.samples.filter((s) => s.name === 'fleetpulse_ingest_stage_seconds_total').map((s) => s.labels.worker))].sort();
  assert.deepEqual(workers, ['0', '1']);
  // A body that fails validation was still decoded (its CPU counts), and nothing more was applied.
  const bad = await request(`${cluster.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"source":"stage-x","metric":"cpu","value":"high"}]' });
  assert.equal(bad.status, 400);
  const last = await scrape();
  assert.ok(stage(last, 'decode') > stage(after, 'decode'), 'the rejected body was decoded');
  assert.equal(stage(last, 'apply'), stage(after, 'apply'), 'nothing was applied for it');
});

test('a stopped worker is left out of the scrape and counted; the scrape still answers in time', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());
  const info = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  const victim = info.workers.find((w) => w.id === 1)!;
  const resume = freezeProcess(victim.pid);
  t.after(resume); // on failure: a stopped worker cannot drain (the primary would SIGKILL it after its budget)

  // Prometheus sends its timeout; the primary answers without the stopped worker (the budget math is unit-tested in scrape.test.ts).
  const res = await request(`${cluster.adminUrl}/metrics`, { headers: { 'x-prometheus-scrape-timeout-seconds': '1' }, timeoutMs: 10_000 });
  assert.equal(res.status, 200);
  const e = parseExposition(res.body);
  assert.equal(sumSeries(e, 'fleetpulse_scrape_missing_workers_total', { reason: 'timeout' }), 1);
  const workers = new Set(e.samples.filter((s) => s.name === 'fleetpulse_process_start_time_seconds').map((s) => s.labels.worker));
  assert.deepEqual([...workers].sort(), ['0', 'primary'], 'the stopped worker is left out, the rest is there');

  const during = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  assert.deepEqual(during.workers.map((w) => w.id), [0], '/admin/cluster lists the workers that answer');

  resume();
  await until('the resumed worker is in the scrape again', 20_000, async () => {
    const text = (await request(`${cluster.adminUrl}/metrics`)).body;
    return text.includes('fleetpulse_process_start_time_seconds{worker="1"}');
  }, 200);
});

test('/healthz, /readyz and /admin/cluster answer as documented; request ids are returned and logged', { timeout: 60_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2, args: ['--log-level', 'debug'] });
  t.after(() => cluster.stop());

  const health = await request(`${cluster.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(health.json(), { status: 'ok' });
  const ready = await request(`${cluster.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.json(), { status: 'ready' });

  const info = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  assert.equal(info.balancer, 'cluster');
  assert.equal(info.state, 'memory');
  assert.deepEqual(info.workers.map((w) => w.id), [0, 1]);
  for (const w of info.workers) {
    for (const k of ['pid', 'uptimeS', 'samplesPerSec', 'connections'] as const) assert.equal(typeof w[k], 'number', `${k} of worker ${w.id}`);
    assert.match(w.address, /^127\.0\.0\.1:\d+$/);
  }
  const notFound = await request(`${cluster.adminUrl}/nope`);
  assert.equal(notFound.status, 404);

  // Honoured over HTTP/1.1 and h2c, generated when absent or unusable.
  const own = await request(`${cluster.url}/no-such-route`, { headers: { 'x-request-id': 'obs-test-404' } });
  assert.equal(own.status, 404);
  assert.equal(own.headers['x-request-id'], 'obs-test-404');
  const generated = await request(`${cluster.url}/api/v1/metrics`);
  assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const replaced = await request(`${cluster.url}/healthz`, { headers: { 'x-request-id': 'not ok; has spaces' } });
  assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const h2 = h2Session(cluster.url);
  t.after(() => h2.close());
  const viaH2 = await h2.request('/api/v1/ingest', { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'obs-test-h2' }, body: '{"source":"h2","metric":"cpu","value":"x"}' });
  assert.equal(viaH2.status, 400);
  assert.equal(viaH2.headers['x-request-id'], 'obs-test-h2');

  // The failed requests' log lines (debug: client errors) carry their ids and codes.
  await until('request log lines', 10_000, () => cluster.proc.output().includes('obs-test-h2') && cluster.proc.output().includes('obs-test-404'));
  const lines = logLines(cluster.proc.output());
  const l404 = lines.find((l) => l.reqId === 'obs-test-404')!;
  assert.deepEqual([l404.role, typeof l404.workerId, l404.code, l404.status, l404.msg], ['worker', 'number', 'not_found', 404, 'request rejected']);
  const lh2 = lines.find((l) => l.reqId === 'obs-test-h2')!;
  assert.deepEqual([lh2.route, lh2.code, lh2.status], ['ingest', 'invalid_sample', 400]);
});

test('the startup config line shows the configuration, never the keys or the Redis password', { timeout: 60_000 }, async (t) => {
  const secrets = ['ingest-key-secret-one', 'ingest-key-secret-two', 'read-key-secret-three', 'redis-pass-secret'];
  const cluster = await startCluster({
    workers: 1,
    env: {
      FLEETPULSE_INGEST_KEYS: `${secrets[0]},${secrets[1]}`,
      FLEETPULSE_READ_KEYS: secrets[2]!,
      FLEETPULSE_REDIS_URL: `redis://fp:${secrets[3]}@127.0.0.1:6390/0`,
    },
  });
  t.after(() => cluster.stop());
  const out = cluster.proc.output();
  for (const s of secrets) assert.ok(!out.includes(s), `secret ${s} appears in the logs`);
  const starting = logLines(out).find((l) => l.msg === 'starting')!;
  assert.equal(starting.role, 'primary');
  const config = starting.config as { state: { redisUrl: string }; ingest: { maxBodyBytes: number }; auth: Record<string, unknown>; workers: number };
  assert.equal(config.state.redisUrl, 'redis://[redacted]@127.0.0.1:6390/0');
  assert.equal(config.ingest.maxBodyBytes, 1024 * 1024);
  assert.equal(config.workers, 1);
  assert.ok(config.auth.ingestKeys !== undefined && config.auth.readKeys !== undefined, 'the keys fields are there, redacted');
});

test('--log-level wins over FLEETPULSE_LOG_LEVEL; lines below the level are dropped, lines at or above it are written', { timeout: 60_000 }, async (t) => {
  // Flag warn, env error: warn applies.
  const warn = await startCluster({ workers: 2, args: ['--log-level', 'warn'], env: { FLEETPULSE_LOG_LEVEL: 'error' } });
  t.after(() => warn.stop());
  const info = await getJson<ClusterInfo>(`${warn.adminUrl}/admin/cluster`);
  process.kill(info.workers[0]!.pid, 'SIGKILL');
  await warn.proc.waitForLine(/"msg":"worker exited unexpectedly; restarting"/, 20_000, 'the warn line of a crashed worker');
  const lines = logLines(warn.proc.output());
  const below = lines.filter((l) => l.level < 40 && l.msg !== 'fleetpulse ready');
  assert.deepEqual(below.map((l) => l.msg), [], 'no info/debug lines at --log-level warn (the ready line is always printed)');
  const crash = lines.find((l) => l.msg === 'worker exited unexpectedly; restarting')!;
  assert.deepEqual([crash.level, crash.role, crash.slot, crash.signal], [40, 'primary', 0, 'SIGKILL']);

  // Env error alone: the same crash writes no warn line, yet the worker is restarted.
  const quiet = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'error' } });
  t.after(() => quiet.stop());
  const before = await getJson<ClusterInfo>(`${quiet.adminUrl}/admin/cluster`);
  const victim = before.workers[0]!;
  process.kill(victim.pid, 'SIGKILL');
  await until('the crashed worker is back', 20_000, async () => {
    const now = await getJson<ClusterInfo>(`${quiet.adminUrl}/admin/cluster`);
    return now.workers.some((w) => w.id === victim.id && w.pid !== victim.pid);
  }, 100);
  assert.match((await request(`${quiet.adminUrl}/metrics`)).body, /fleetpulse_worker_restarts_total 1/);
  assert.deepEqual(logLines(quiet.proc.output()).filter((l) => l.level < 50 && l.msg !== 'fleetpulse ready').map((l) => l.msg), []);
});

test('an unknown --log-level is a configuration error (exit 2) that names the field', { timeout: 30_000 }, async () => {
  const p = spawn(process.execPath, [CLI, 'start', '--log-level', 'chatty', '--port', '0', '--admin-port', '0', '--balancer', 'cluster'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  p.stdout.resume();
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /logLevel/);
});

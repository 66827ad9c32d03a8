/**
 * A real Prometheus (Debian's `prometheus`) scrapes a real 2-worker cluster's admin /metrics. The
 * counters it stores match exactly what was ingested across both workers, and `promtool check
 * metrics` finds nothing to complain about in the exposition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startCluster } from '../testing/cluster.js';
import { postJson, request } from '../testing/http.js';
import { startPrometheus } from '../testing/prometheus.js';
import { skipUnless } from '../testing/binaries.js';
import { sumSeries } from '../testing/prom-text.js';

/** Run promtool with `input` on stdin; resolves with its exit code and everything it printed. */
function promtoolStdin(args: string[], input: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('error', reject);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    p.stdin.end(input);
  });
}

test('Prometheus scrapes the cluster: ingest counters match exactly what both workers took', { skip: skipUnless('prometheus'), timeout: 90_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());

  // Fresh connection per request: node:cluster hands connections to the workers in turn, so both take some.
  let accepted = 0;
  let requests = 0;
  for (let i = 0; i < 40; i++) {
    const n = 1 + (i % 9);
    const samples = Array.from({ length: n }, (_, j) => ({ source: `prom-src-${i}`, metric: `m${j}`, value: i * 10 + j }));
    const r = await postJson(`${cluster.url}/api/v1/ingest`, samples);
    assert.equal(r.status, 202, r.body);
    accepted += n;
    requests++;
  }
  for (let i = 0; i < 4; i++) {
    const r = await postJson(`${cluster.url}/api/metrics`, { server_id: i, metric_type: 'cpu', value: 50 + i, unit: '%' });
    assert.equal(r.status, 201, r.body);
    accepted += 1;
    requests++;
  }
  const bad = await postJson(`${cluster.url}/api/v1/ingest`, [{ source: 'ok', metric: 'cpu', value: 1 }, { source: 'bad', metric: 'cpu', value: 'NaN' }]);
  assert.equal(bad.status, 400);

  const text = (await request(`${cluster.adminUrl}/metrics`)).body;
  const perWorker = [0, 1].map((w) => sumSeries(text, 'fleetpulse_ingest_samples_total', { worker: String(w), result: 'accepted' }));
  assert.ok(perWorker.every((n) => n > 0), `both workers took samples: ${perWorker.join(' + ')}`);
  assert.equal(perWorker[0]! + perWorker[1]!, accepted, 'the exposition itself adds up');

  const check = await promtoolStdin(['check', 'metrics'], text);
  assert.equal(check.out, '', `promtool check metrics found problems:\n${check.out}`);
  assert.equal(check.code, 0);

  const admin = new URL(cluster.adminUrl);
  const prom = await startPrometheus({ targets: [admin.host], scrapeIntervalS: 1 });
  t.after(() => prom.stop());

  const total = await prom.waitFor(
    'sum(fleetpulse_ingest_samples_total{job="fleetpulse",result="accepted"})',
    (v) => v[0]?.value === accepted,
    45_000,
    `Prometheus sees ${accepted} accepted samples`,
  );
  assert.equal(total[0]!.value, accepted);
  const byWorker = await prom.query('sum by (worker) (fleetpulse_ingest_samples_total{job="fleetpulse",result="accepted"})');
  assert.deepEqual(
    byWorker.map((v) => [v.metric.worker, v.value]).sort(),
    [['0', perWorker[0]], ['1', perWorker[1]]],
    'per worker, as the exposition said',
  );
  const one = async (expr: string): Promise<number | undefined> => (await prom.query(expr))[0]?.value;
  assert.equal(await one('up{job="fleetpulse"}'), 1);
  assert.equal(await one('sum(fleetpulse_ingest_samples_total{result=~"shed|failed"})'), 0);
  assert.equal(await one('sum(fleetpulse_ingest_requests_total{transport="http",code="2xx"})'), requests);
  assert.equal(await one('sum(fleetpulse_ingest_requests_total{transport="http",code="4xx"})'), 1);
  assert.equal(await one('sum(fleetpulse_ingest_request_samples_sum{transport="http"})'), accepted);
  assert.equal(await one('fleetpulse_workers_live'), 2);
  assert.equal(await one('sum(fleetpulse_scrape_missing_workers_total)'), 0);
  assert.equal(await one('count(fleetpulse_process_resident_memory_bytes)'), 3, 'two workers and the primary');
});

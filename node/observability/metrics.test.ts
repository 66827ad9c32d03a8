/**
 * The metric catalogue (docs/metrics.md) against the metric definitions themselves: names, types,
 * merge rules and label names in both directions; every gauge states its merge in the source;
 * labels come from an allow-list of fixed-set labels; every fleetpulse_* name the code, the
 * dashboard or the example Prometheus rules mention exists. The same catalogue is checked against
 * a running cluster's /metrics in node/integration/observability.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createPrimaryMetrics, createWorkerMetrics, observeRedisOp } from './metrics.js';
import { parseCatalogue, parseExposition, sumSeries } from '../testing/prom-text.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const catalogue = parseCatalogue(readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8'));

/**
 * Every label name in use. Each takes values from a fixed set (see docs/metrics.md); a new label
 * belongs here only if its values cannot come from a client (never a source, metric, key, id).
 */
const ALLOWED_LABELS = new Set([
  'worker', 'le', 'transport', 'result', 'code', 'route', 'protocol', 'kind', 'store', 'op', 'reason', 'slot', 'role',
  // fleetpulse_ingest_stage_seconds_total: the ingest stages of observability/stage-clock.ts.
  'stage',
  // prom-client runtime metrics: libuv handle/request/resource classes, V8 heap spaces, Node version.
  'type', 'space', 'version', 'major', 'minor', 'patch',
]);

interface Defined {
  type: string;
  aggregator: string;
  labels: string[];
  help: string;
}

async function definitions(): Promise<Map<string, Defined>> {
  const worker = new Registry();
  worker.setDefaultLabels({ worker: '0' });
  createWorkerMetrics(worker);
  const primary = new Registry();
  createPrimaryMetrics(primary);
  const out = new Map<string, Defined>();
  for (const r of [worker, primary]) {
    for (const m of await r.getMetricsAsJSON()) {
      const metric = r.getSingleMetric(m.name) as unknown as { labelNames?: string[] };
      const labels = (metric.labelNames ?? []).filter((l) => l !== 'worker');
      const prev = out.get(m.name);
      // Runtime metrics exist in both registries; they must agree.
      if (prev !== undefined) assert.equal(prev.type, String(m.type), `${m.name}: same type in workers and primary`);
      out.set(m.name, { type: String(m.type), aggregator: String(m.aggregator), labels, help: m.help });
    }
  }
  return out;
}

test('docs/metrics.md lists exactly the defined metrics, with their type, merge and labels', async () => {
  const defs = await definitions();
  const undocumented = [...defs.keys()].filter((n) => !catalogue.has(n));
  const undefinedDocs = [...catalogue.keys()].filter((n) => !defs.has(n));
  assert.deepEqual(undocumented, [], 'defined but not in docs/metrics.md');
  assert.deepEqual(undefinedDocs, [], 'in docs/metrics.md but not defined');
  for (const [name, d] of defs) {
    const doc = catalogue.get(name)!;
    assert.equal(doc.type, d.type, `${name}: type`);
    assert.equal(doc.merge, d.aggregator, `${name}: merge (aggregator)`);
    assert.deepEqual([...doc.labels].sort(), [...d.labels].sort(), `${name}: label names`);
    assert.ok(doc.description.length > 10, `${name}: documented`);
    assert.ok(d.help.length > 10, `${name}: help text`);
  }
});

/**
 * fleetpulse_<subsystem>_<name>_<unit>: the subsystems in use. A new one belongs here only if no
 * existing one fits (a limit on ingest is `ingest_…`, not a subsystem of its own).
 */
const SUBSYSTEMS = new Set([
  'ingest', 'stream', 'state', 'redis', 'live', 'sample', 'http', 'auth', 'forwarded', 'forward', 'worker', 'workers', 'balancer', 'scrape',
  'process', 'nodejs', // prom-client runtime metrics
]);

test('names follow Prometheus conventions and labels come from the fixed-set allow-list', async () => {
  for (const [name, d] of await definitions()) {
    assert.match(name, /^fleetpulse_[a-z][a-z0-9_]*$/, name);
    assert.ok(SUBSYSTEMS.has(name.split('_')[1]!), `${name}: fleetpulse_<subsystem>_…, subsystem not one of ${[...SUBSYSTEMS].join(', ')}`);
    if (d.type === 'counter') assert.match(name, /_total$/, `${name}: counters end in _total`);
    else assert.doesNotMatch(name, /_total$/, `${name}: only counters end in _total`);
    if (/_seconds|_bytes/.test(name) || d.type !== 'histogram') continue;
    // Histograms of counts (samples per request) are the only unit-less histograms.
    assert.match(name, /_samples$/, `${name}: histogram without a base unit`);
  }
  for (const [name, d] of await definitions()) {
    for (const l of d.labels) assert.ok(ALLOWED_LABELS.has(l), `${name}: label ${l} is not in the fixed-set allow-list`);
  }
});

test('every gauge in metrics.ts states its cluster merge (aggregator) explicitly', () => {
  const src = readFileSync(join(ROOT, 'node/observability/metrics.ts'), 'utf8');
  const gauges = src.split('new Gauge({').slice(1);
  assert.ok(gauges.length >= 10, 'found the gauges');
  for (const g of gauges) {
    const body = g.slice(0, g.indexOf('registers:') + 200);
    const name = /name: '([^']+)'/.exec(body)?.[1] ?? '?';
    assert.match(body, /aggregator: '(sum|max|min|average|first|omit)'/, `${name} declares no aggregator`);
  }
});

function sourceFiles(dir: string, exts: string[], out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) sourceFiles(p, exts, out);
    else if (exts.some((e) => entry.endsWith(e))) out.push(p);
  }
  return out;
}

test('every fleetpulse_* metric the code, dashboard, docs or alert rules mention exists', () => {
  const files = [
    ...sourceFiles(join(ROOT, 'node'), ['.ts']),
    ...sourceFiles(join(ROOT, 'dashboard'), ['.ts']),
    ...sourceFiles(join(ROOT, 'deploy'), ['.yml', '.yaml']),
    ...sourceFiles(join(ROOT, 'docs'), ['.md']),
  ];
  const unknown: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\bfleetpulse_[a-z0-9_]*[a-z0-9]\b/g)) {
      const family = m[0].replace(/_(bucket|sum|count)$/, '');
      if (!catalogue.has(m[0]) && !catalogue.has(family)) unknown.push(`${f.slice(ROOT.length)}: ${m[0]}`);
    }
  }
  assert.deepEqual([...new Set(unknown)], [], 'names that are not in docs/metrics.md (renamed or never defined?)');
});

test('fixed label combinations are exported at 0; redis ops are observed by op', async () => {
  const r = new Registry();
  const m = createWorkerMetrics(r);
  const text = await r.metrics();
  const e = parseExposition(text);
  const zeros = e.samples.filter((s) => s.name === 'fleetpulse_ingest_samples_total');
  assert.equal(zeros.length, 8, 'transport × result');
  assert.ok(zeros.every((s) => s.value === 0));
  observeRedisOp(m, 'commit', 0.002, true);
  observeRedisOp(m, 'commit', 0.5, false);
  const after = await r.metrics();
  assert.equal(sumSeries(after, 'fleetpulse_redis_command_duration_seconds_count', { op: 'commit' }), 2);
  assert.equal(sumSeries(after, 'fleetpulse_redis_command_errors_total', { op: 'commit' }), 1);
});

test('scrape-time readings: state readiness and the oldest pending batch', async () => {
  const r = new Registry();
  const m = createWorkerMetrics(r);
  let ready = false;
  m.bindReadings({ store: 'redis', stateReady: () => ready, oldestPendingMs: () => 1500 });
  let text = await r.metrics();
  assert.equal(sumSeries(text, 'fleetpulse_state_ready', { store: 'redis' }), 0);
  assert.equal(sumSeries(text, 'fleetpulse_state_oldest_pending_seconds'), 1.5);
  ready = true;
  text = await r.metrics();
  assert.equal(sumSeries(text, 'fleetpulse_state_ready', { store: 'redis' }), 1);
});

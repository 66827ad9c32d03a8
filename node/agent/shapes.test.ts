import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson } from '../ingest/parse.js';
import { SampleKind } from '../protocol/samples.js';
import { hostName, SimulatedHost } from './encode.js';
import { LatencyRecorder } from './latency.js';
import { HostSignals, metricCatalogue } from './shapes.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);

/** Step a host through `hours` of simulated time at 10 s ticks (injected clock, no timers). */
function run(source: string, role: 'web' | 'db' | 'cache', hours: number, metrics = 10): number[][] {
  const h = new HostSignals(source, role, metrics, DAY);
  const out: number[][] = [];
  for (let t = T0; t < T0 + hours * 3600_000; t += 10_000) out.push([...h.step(t)]);
  return out;
}

test('shapes are realistic: bounded gauges, monotonic counters, a diurnal wave, heavy-tailed latency', () => {
  const rows = run('web-0001', 'web', 48);
  const col = (i: number): number[] => rows.map((r) => r[i]!);
  for (const [i, lo, hi] of [[0, 0, 100], [1, 0, 100], [2, 0, 100]] as const) {
    for (const v of col(i)) assert.ok(v >= lo && v <= hi, `metric ${i} value ${v} within [${lo}, ${hi}]`);
  }
  for (const i of [3, 4, 6, 9]) {
    const c = col(i);
    for (let k = 1; k < c.length; k++) assert.ok(c[k]! >= c[k - 1]!, `counter ${i} never decreases`);
    assert.ok(c[c.length - 1]! > c[0]!, `counter ${i} grows`);
  }
  // Diurnal: the busiest hour's mean CPU is well above the quietest hour's.
  const byHour = new Array<number[]>(24).fill([]).map(() => [] as number[]);
  rows.forEach((r, k) => byHour[Math.floor(((k * 10_000) % DAY) / 3600_000)]!.push(r[0]!));
  const means = byHour.map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
  assert.ok(Math.max(...means) - Math.min(...means) > 8, `diurnal swing (${Math.min(...means).toFixed(1)} → ${Math.max(...means).toFixed(1)})`);
  // Not uniform noise: consecutive CPU values are correlated.
  const cpu = col(0);
  const diffs = cpu.slice(1).map((v, k) => Math.abs(v - cpu[k]!));
  assert.ok(diffs.reduce((a, b) => a + b, 0) / diffs.length < 10, 'cpu moves smoothly');
  // Latency: log-normal body with spikes, so p99 is far above the median.
  const lat = col(5).sort((a, b) => a - b);
  assert.ok(lat[0]! > 0);
  assert.ok(lat[Math.floor(lat.length * 0.99)]! > 2 * lat[Math.floor(lat.length / 2)]!, 'latency has a heavy tail');
});

test('memory creeps and drops; disks fill; a database differs from a cache', () => {
  const mem = run('db-0003', 'db', 24).map((r) => r[1]!);
  let drops = 0;
  for (let k = 1; k < mem.length; k++) if (mem[k]! < mem[k - 1]! - 0.8) drops++;
  assert.ok(drops >= 10, `memory drops on GC/restart (${drops})`);
  const disk = run('db-0003', 'db', 24).map((r) => r[2]!);
  assert.ok(disk[disk.length - 1]! !== disk[0]!, 'disk usage moves');
  assert.deepEqual(run('db-0003', 'db', 1), run('db-0003', 'db', 1), 'seeded by the source: reproducible');
  assert.notDeepEqual(run('db-0003', 'db', 1), run('db-0004', 'db', 1));
  assert.equal(run('x', 'web', 0.01, 25)[0]!.length, 25, 'more than ten metrics: per-core cpu');
});

test('a tick encodes to wide objects the ingest accepts, with units and counter kinds', () => {
  const catalogue = metricCatalogue(12);
  const host = new SimulatedHost(hostName(2, 1000, undefined), 2, catalogue, DAY);
  assert.equal(host.source, 'db-0003');
  const frags: string[] = [];
  const n = host.tick(Date.now(), frags);
  assert.equal(n, 12);
  const batch = parseJson(`[${frags.join(',')}]`, { maxSamples: 1000, maxTags: 16, maxFutureMs: 300_000, maxAgeMs: DAY }, Date.now());
  assert.equal(batch.length, 12);
  assert.deepEqual([...batch.metric].sort(), catalogue.map((m) => m.name).sort());
  const rx = batch.metric.indexOf('net.rx_bytes');
  assert.equal(batch.kind[rx], SampleKind.Counter);
  assert.equal(batch.unit[rx], 'bytes');
  assert.equal(batch.unit[batch.metric.indexOf('cpu')], '%');
  assert.equal(hostName(41, 10, 'bench-'), 'bench-0042');
});

test('latency recorder percentiles are within 2%', () => {
  const r = new LatencyRecorder();
  for (let i = 1; i <= 10_000; i++) r.record(i / 10); // 0.1 … 1000 ms
  const s = r.summary();
  assert.equal(s.count, 10_000);
  assert.ok(Math.abs(s.p50 - 500) / 500 < 0.02, `p50 ${s.p50}`);
  assert.ok(Math.abs(s.p99 - 990) / 990 < 0.02, `p99 ${s.p99}`);
  assert.equal(s.max, 1000);
  const other = new LatencyRecorder();
  other.record(5000);
  r.merge(other);
  assert.equal(r.summary().max, 5000);
});

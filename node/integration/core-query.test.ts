/**
 * The core pipeline end to end: a real 2-worker cluster (memory state, shared port), 500 sources
 * pushed over many connections in every body shape, then every query answer checked exactly
 * against an independent computation — whichever worker answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { startCluster } from '../testing/cluster.js';
import { getJson, request } from '../testing/http.js';

const SOURCES = 500;
const STEPS = 12;
const CONNECTIONS = 24;

interface Sample { source: string; metric: string; value: number; ts: number; kind?: 'counter' }

function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

const close = (a: number | null, b: number | null, what: string): void => {
  assert.ok(a !== null && b !== null, `${what}: null`);
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: got ${a}, expected ${b}`);
};

test('500 sources over many connections: every query answer is exact on any worker', { timeout: 180_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2 });
  t.after(() => cluster.stop());

  // Known samples: per source, STEPS seconds of cpu (sometimes two samples per bucket, arriving
  // out of order) and a byte counter with one reset.
  const base = Math.floor(Date.now() / 1000) * 1000 - (STEPS + 2) * 1000;
  const bySource = new Map<string, Sample[]>();
  for (let i = 0; i < SOURCES; i++) {
    const source = `host-${String(i).padStart(3, '0')}.dc1`;
    const list: Sample[] = [];
    let counter = i * 1000;
    for (let k = 0; k < STEPS; k++) {
      const ts = base + k * 1000 + (i % 7) * 10;
      list.push({ source, metric: 'cpu', value: ((i * 7919 + k * 104_729) % 10_000) / 100, ts });
      if ((i + k) % 3 === 0) list.push({ source, metric: 'cpu', value: ((i * 31 + k * 17) % 1000) / 10, ts: ts + 300 });
      counter = k === 6 && i % 5 === 0 ? 10 : counter + 100 + (i % 13);
      list.push({ source, metric: 'net.bytes', value: counter, ts: ts + 500, kind: 'counter' });
    }
    bySource.set(source, list);
  }

  // Send each (source, second) as its own request, in rotating body shapes, over CONNECTIONS
  // keep-alive connections (node:cluster spreads connections over both workers).
  const jobs: Array<{ body: string | Buffer; headers: Record<string, string> }> = [];
  let n = 0;
  for (const [source, list] of bySource) {
    for (let k = 0; k < STEPS; k++) {
      const group = list.filter((s) => Math.floor((s.ts - base) / 1000) === k);
      // Reverse so a later-ts sample arrives first: `last` must go by timestamp.
      const wire = group.reverse().map((s) => (s.kind ? { source, metric: s.metric, value: s.value, ts: s.ts, kind: 'counter' } : { source, metric: s.metric, value: s.value, ts: s.ts, unit: '%' }));
      switch (n++ % 4) {
        case 0: jobs.push({ body: JSON.stringify(wire), headers: { 'content-type': 'application/json' } }); break;
        case 1: jobs.push({ body: JSON.stringify({ samples: wire }), headers: { 'content-type': 'application/json' } }); break;
        case 2: jobs.push({ body: wire.map((w) => JSON.stringify(w)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } }); break;
        default: jobs.push({ body: gzipSync(JSON.stringify(wire)), headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      }
    }
  }
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const res = await request(`${cluster.url}/api/v1/ingest`, { method: 'POST', headers: job.headers, body: job.body, agent });
        assert.equal(res.status, 202, res.body);
        accepted += res.json<{ accepted: number }>().accepted;
      }
      agent.destroy();
    }),
  );
  const all = [...bySource.values()].flat();
  assert.equal(accepted, all.length);

  // Ask each question on several fresh connections, so both workers answer it.
  const ask = async <T>(path: string): Promise<T> => {
    const answers = await Promise.all(Array.from({ length: 4 }, () => getJson<T>(`${cluster.url}${path}`)));
    for (const a of answers.slice(1)) assert.deepEqual(a, answers[0], `${path}: workers disagree`);
    return answers[0]!;
  };

  const sources = await ask<Array<{ source: string; status: string; metrics: string[] }>>('/api/v1/sources');
  assert.equal(sources.length, SOURCES);
  assert.deepEqual(sources.map((s) => s.source), [...bySource.keys()].sort());
  for (const s of sources) {
    assert.equal(s.status, 'live');
    assert.deepEqual(s.metrics, ['cpu', 'net.bytes']);
  }

  const metrics = await ask<unknown[]>('/api/v1/metrics');
  assert.deepEqual(metrics, [
    { metric: 'cpu', unit: '%', kind: 'gauge', sources: SOURCES },
    { metric: 'net.bytes', unit: '', kind: 'counter', sources: SOURCES },
  ]);

  // Series: buckets of every 25th source, exact.
  for (const [source, list] of [...bySource].filter((_, i) => i % 25 === 0)) {
    const ans = await ask<{ step: number; points: number[][] }>(`/api/v1/series?metric=cpu&source=${source}&from=${base - 5000}&to=${base + STEPS * 1000}`);
    assert.equal(ans.step, 1000);
    const expected = new Map<number, number[]>();
    for (const s of list.filter((x) => x.metric === 'cpu')) {
      const b = Math.floor(s.ts / 1000) * 1000;
      const cur = expected.get(b);
      if (cur === undefined) expected.set(b, [b, 1, s.value, s.value, s.value, s.value, s.ts]);
      else {
        cur[1]!++;
        cur[2]! += s.value;
        cur[3] = Math.min(cur[3]!, s.value);
        cur[4] = Math.max(cur[4]!, s.value);
        if (s.ts >= cur[6]!) { cur[5] = s.value; cur[6] = s.ts; }
      }
    }
    const exp = [...expected.values()].sort((a, b) => a[0]! - b[0]!);
    assert.equal(ans.points.length, exp.length, `${source}: number of buckets`);
    ans.points.forEach((p, j) => {
      const e = exp[j]!;
      assert.deepEqual([p[0], p[1], p[3], p[4], p[5]], [e[0], e[1], e[3], e[4], e[5]], `${source} bucket ${j}`);
      close(p[2]!, e[2]!, `${source} bucket ${j} sum`);
    });
    // A coarser step merges buckets.
    const coarse = await ask<{ step: number; points: number[][] }>(`/api/v1/series?metric=cpu&source=${source}&from=${base - 5000}&to=${base + STEPS * 1000}&step=5s`);
    assert.equal(coarse.step, 5000);
    assert.equal(coarse.points.reduce((a, p) => a + p[1]!, 0), list.filter((x) => x.metric === 'cpu').length);
  }

  // Fleet summaries across all 500 sources, exact.
  const cpuBy = (by: 'last' | 'avg' | 'max'): Array<{ source: string; value: number }> =>
    [...bySource].map(([source, list]) => {
      const cpu = list.filter((s) => s.metric === 'cpu');
      const lastS = cpu.reduce((a, b) => (b.ts >= a.ts ? b : a));
      const value = by === 'last' ? lastS.value : by === 'max' ? Math.max(...cpu.map((s) => s.value)) : cpu.reduce((a, s) => a + s.value, 0) / cpu.length;
      return { source, value };
    });
  for (const by of ['last', 'avg', 'max'] as const) {
    const ans = await ask<{ sources: number; avg: number; min: number; max: number; p50: number; p90: number; p99: number; top: Array<{ source: string; value: number }>; bottom: Array<{ source: string; value: number }> }>(`/api/v1/summary?metric=cpu&window=5m&by=${by}`);
    const ranked = cpuBy(by).sort((a, b) => a.value - b.value || (a.source < b.source ? -1 : 1));
    const values = ranked.map((r) => r.value);
    assert.equal(ans.sources, SOURCES);
    close(ans.avg, values.reduce((a, v) => a + v, 0) / SOURCES, `${by} avg`);
    close(ans.min, values[0]!, `${by} min`);
    close(ans.max, values[SOURCES - 1]!, `${by} max`);
    close(ans.p50, quantile(values, 0.5), `${by} p50`);
    close(ans.p90, quantile(values, 0.9), `${by} p90`);
    close(ans.p99, quantile(values, 0.99), `${by} p99`);
    assert.deepEqual(ans.bottom.map((b) => b.source), ranked.slice(0, 10).map((r) => r.source));
    const expTop = ranked.slice(-10).reverse();
    ans.top.forEach((b, j) => close(b.value, expTop[j]!.value, `${by} top ${j}`));
  }

  // Counters contribute their per-second rate (bucket lasts, resets handled).
  const rate = await ask<{ sources: number; max: number; min: number }>('/api/v1/summary?metric=net.bytes&window=5m');
  const rates = [...bySource.values()].map((list) => {
    const c = list.filter((s) => s.metric === 'net.bytes');
    let inc = 0;
    for (let j = 1; j < c.length; j++) {
      const d = c[j]!.value - c[j - 1]!.value;
      inc += d >= 0 ? d : c[j]!.value;
    }
    return (inc * 1000) / (c[c.length - 1]!.ts - c[0]!.ts);
  });
  assert.equal(rate.sources, SOURCES);
  close(rate.max, Math.max(...rates), 'rate max');
  close(rate.min, Math.min(...rates), 'rate min');

  // Bad query parameters get 400 with a code, not a crash.
  for (const path of ['/api/v1/series?metric=cpu', '/api/v1/series?metric=cpu&source=x&from=abc', '/api/v1/summary', '/api/v1/summary?metric=cpu&by=median', '/api/v1/summary?metric=cpu&window=7h', '/api/v1/series?metric=cpu&source=a&from=0', '/api/v1/series?metric=cpu&source=a&from=-1m&to=-2m', '/api/v1/series?metric=cpu&source=a%20b']) {
    const res = await request(`${cluster.url}${path}`);
    assert.equal(res.status, 400, path);
    assert.equal(res.json<{ error: { code: string } }>().error.code, 'invalid_query');
  }
});

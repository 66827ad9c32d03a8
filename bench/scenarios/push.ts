/**
 * bench/push: HTTP push ingest at batch sizes 1, 100, 1000 against a bare-Node baseline (same
 * worker count, same shared-port cluster, only JSON.parse + sum) measured in the same run, with
 * keep-alive and with a new connection per request (the original project's assumption).
 */
import { startCluster } from '../../node/testing/cluster.js';
import { httpLoad, type HttpLoadResult } from '../lib/load.js';
import { startBarePush } from '../lib/servers.js';
import { spread, ratio } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const CONNECTIONS = 64;
const BATCHES = [1, 100, 1000] as const;
const SOURCES = 10_000;

function bodies(batch: number): string[] {
  const out: string[] = [];
  const n = Math.max(1, Math.min(1000, Math.ceil(20_000 / batch)));
  for (let j = 0; j < n; j++) {
    const samples = [];
    for (let k = 0; k < batch; k++) {
      const i = (j * batch + k) % SOURCES;
      samples.push({ source: `bench-${i}`, metric: 'cpu', value: Math.round(Math.random() * 10_000) / 100, unit: '%' });
    }
    out.push(JSON.stringify(batch === 1 ? samples[0] : samples));
  }
  return out;
}

interface Variant {
  target: 'fleetpulse' | 'bare';
  batch: number;
  keepAlive: boolean;
}

export const pushScenario: Scenario = {
  name: 'push',
  description: 'HTTP/1.1 push ingest at batch 1/100/1000 vs a bare-Node JSON.parse baseline (2 workers, memory state)',
  timeLimitS: (c) => 60 + c.repeat * 8 * (c.durationS + 4),
  async run(ctx) {
    const fp = await startCluster({ workers: WORKERS, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
    const bare = await startBarePush(WORKERS);
    const variants: Variant[] = [
      ...BATCHES.flatMap((batch) => [{ target: 'bare' as const, batch, keepAlive: true }, { target: 'fleetpulse' as const, batch, keepAlive: true }]),
      { target: 'bare', batch: 1, keepAlive: false },
      { target: 'fleetpulse', batch: 1, keepAlive: false },
    ];
    const pool = new Map(BATCHES.map((b) => [b, bodies(b)] as const));
    const runs: Array<Record<string, unknown>> = [];
    try {
      // Warm up both (JIT, connection pools, series creation for the 10,000 sources).
      for (const url of [fp.url, bare.url]) {
        await httpLoad({ url: `${url}/api/v1/ingest`, connections: 16, durationS: ctx.quick ? 1 : 3, bodies: pool.get(1000)!, signal: ctx.signal });
      }
      for (let rep = 0; rep < ctx.repeat; rep++) {
        for (const v of variants) {
          ctx.progress(`push: run ${rep + 1}/${ctx.repeat} ${v.target} batch ${v.batch}${v.keepAlive ? '' : ' new-conn'}`);
          const url = `${v.target === 'fleetpulse' ? fp.url : bare.url}/api/v1/ingest`;
          const r: HttpLoadResult = await httpLoad({ url, connections: CONNECTIONS, durationS: ctx.durationS, bodies: pool.get(v.batch as 1 | 100 | 1000)!, newConnectionPerRequest: !v.keepAlive, signal: ctx.signal });
          runs.push({ ...v, rep, ...r, samplesPerSec: r.reqPerSec * v.batch });
        }
      }
    } finally {
      await fp.stop();
      await bare.stop();
    }

    const key = (v: Variant): string => `${v.target}:${v.batch}:${v.keepAlive ? 'ka' : 'new'}`;
    const agg = new Map<string, { v: Variant; rps: ReturnType<typeof spread>; sps: ReturnType<typeof spread>; p50: number; p99: number; errors: number }>();
    for (const v of variants) {
      const rs = runs.filter((r) => key(r as unknown as Variant) === key(v)) as unknown as Array<HttpLoadResult & { samplesPerSec: number }>;
      agg.set(key(v), {
        v,
        rps: spread(rs.map((r) => r.reqPerSec)),
        sps: spread(rs.map((r) => r.samplesPerSec)),
        p50: spread(rs.map((r) => r.latencyMs.p50)).median,
        p99: spread(rs.map((r) => r.latencyMs.p99)).median,
        errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
      });
    }
    const rows = [...agg.values()].map((a) => {
      const base = agg.get(key({ ...a.v, target: 'bare' }))!;
      return [a.v.target, a.v.batch, a.v.keepAlive ? 'keep-alive' : 'new connection', a.rps.median, `${Math.round(a.rps.min)}–${Math.round(a.rps.max)}`, a.sps.median, a.p50, a.p99, a.errors, a.v.target === 'bare' ? 1 : ratio(a.sps.median, base.sps.median)];
    });
    const summary: Record<string, unknown> = {};
    for (const [k, a] of agg) summary[k] = { reqPerSec: a.rps, samplesPerSec: a.sps, p50Ms: a.p50, p99Ms: a.p99, errors: a.errors };
    const fp1 = agg.get('fleetpulse:1:ka')!;
    const fp1000 = agg.get('fleetpulse:1000:ka')!;
    const fpNew = agg.get('fleetpulse:1:new')!;
    const r1 = ratio(fp1.rps.median, agg.get('bare:1:ka')!.rps.median);
    const r1000 = ratio(fp1000.sps.median, agg.get('bare:1000:ka')!.sps.median);
    Object.assign(summary, { ratioBatch1: r1, ratioBatch1000: r1000, fleetpulseBatch1000SamplesPerSec: fp1000.sps.median, fleetpulseBatch1P99Ms: fp1.p99, keepAliveVsNewConnection: ratio(fp1.rps.median, fpNew.rps.median) });

    const chart = 'push-samples.svg';
    writeFileSync(join(ctx.outDir, chart), barChart('Push ingest, samples/s (median, min–max)', 'samples/s', [...agg.values()].map((a) => ({ label: `${a.v.target} batch ${a.v.batch}${a.v.keepAlive ? '' : ' new-conn'}`, value: a.sps.median, min: a.sps.min, max: a.sps.max }))));
    return {
      title: 'Push ingest (HTTP/1.1): FleetPulse vs bare Node',
      params: { workers: WORKERS, connections: CONNECTIONS, durationS: ctx.durationS, repeat: ctx.repeat, sources: SOURCES, balancer: 'cluster', state: 'memory' },
      runs,
      summary,
      tables: [{ title: 'Throughput and latency (median of repeats); keep-alive vs a new connection per request in the last rows', columns: ['target', 'batch', 'connections', 'req/s', 'req/s range', 'samples/s', 'p50 ms', 'p99 ms', 'errors', 'samples/s vs bare'], rows }],
      findings: [
        `Single-sample POSTs: FleetPulse at ${(r1 * 100).toFixed(0)}% of bare Node's requests/s (p99 ${fp1.p99.toFixed(1)} ms at ${CONNECTIONS} connections). The gap is validation, partition routing (with a shared port half the samples land on the non-owner and are forwarded over IPC) and the state write.`,
        `Batches of 1000: ${Math.round(fp1000.sps.median).toLocaleString('en-US')} samples/s, ${(r1000 * 100).toFixed(0)}% of bare Node's parse-and-sum rate. Batching amortises HTTP and IPC costs; what is left is per-sample validation and the ring-buffer writes.`,
        `A new connection per request (what the original project assumed) gave ${Math.round(fpNew.rps.median).toLocaleString('en-US')} single-sample requests/s against ${Math.round(fp1.rps.median).toLocaleString('en-US')} with keep-alive (${ratio(fp1.rps.median, fpNew.rps.median).toFixed(2)}×), p99 ${fpNew.p99.toFixed(1)} vs ${fp1.p99.toFixed(1)} ms; bare Node loses ${ratio(agg.get('bare:1:ka')!.rps.median, agg.get('bare:1:new')!.rps.median).toFixed(2)}× the same way. Each new connection costs a TCP handshake, a node:cluster hand-off and a fresh parser; keep-alive removes all three, which is why the agent keeps its connections open.`,
      ],
      charts: [chart],
    };
  },
};

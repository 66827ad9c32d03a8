/**
 * bench/balancer: the same push load (2 workers, memory state, batches of 10 samples) through each
 * front door, in one run:
 * - direct: straight to worker 0's own address (no proxy; the baseline);
 * - cluster: the node:cluster shared port (no external balancer);
 * - caddy h1 / caddy h2c: Caddy's cleartext port, proxying push ingest to the workers over
 *   HTTP/1.1 or h2c (upstreamProtocol);
 * - caddy TLS h2: h2load over TLS (h2 by ALPN) to Caddy, with h1 and with h2c upstreams.
 * The "agent" load is one source per request with `X-Source` (autocannon, 1,000 sources), so
 * Caddy's header hash sends each request to its owner; h2load can only send one fixed body, so
 * the TLS rows use a 10-source body without X-Source (least_conn), with an autocannon control
 * row on the same body. Per run: requests/s, samples/s, p50/p99, share of samples forwarded
 * between workers, and CPU of Caddy, of FleetPulse (primary + workers) and of the generator.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type RunningCluster } from '../../node/testing/cluster.js';
import { getJson } from '../../node/testing/http.js';
import { hasBinary } from '../../node/testing/binaries.js';
import { scrape } from '../../node/testing/prom.js';
import { sumSeries } from '../../node/testing/prom-text.js';
import { caddyUnder, CpuMeter } from '../lib/cpu.js';
import { h2load } from '../lib/h2load.js';
import { httpLoad, type HttpLoadResult } from '../lib/load.js';
import { ratio, spread } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import type { BenchContext, Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const BATCH = 10;
const SOURCES = 1000;

type Stack = 'cluster' | 'caddy-h1' | 'caddy-h2c';
type Load = 'agent' | 'fixed';
interface Variant { name: string; stack: Stack; target: 'direct' | 'public' | 'tls'; client: 'autocannon' | 'h2load -m 10'; load: Load }

const VARIANTS: Variant[] = [
  { name: 'direct to worker 0', stack: 'caddy-h1', target: 'direct', client: 'autocannon', load: 'agent' },
  { name: 'node:cluster port', stack: 'cluster', target: 'public', client: 'autocannon', load: 'agent' },
  { name: 'Caddy, h1 upstream', stack: 'caddy-h1', target: 'public', client: 'autocannon', load: 'agent' },
  { name: 'Caddy, h2c upstream', stack: 'caddy-h2c', target: 'public', client: 'autocannon', load: 'agent' },
  { name: 'Caddy h1 upstream, fixed body (control)', stack: 'caddy-h1', target: 'public', client: 'autocannon', load: 'fixed' },
  { name: 'Caddy TLS h2, h1 upstream', stack: 'caddy-h1', target: 'tls', client: 'h2load -m 10', load: 'fixed' },
  { name: 'Caddy TLS h2, h2c upstream', stack: 'caddy-h2c', target: 'tls', client: 'h2load -m 10', load: 'fixed' },
];

/** One source's tick of BATCH metrics per request, with its X-Source routing hint. */
function agentLoad(): { bodies: string[]; bodyHeaders: Array<Record<string, string>> } {
  const bodies: string[] = [];
  const bodyHeaders: Array<Record<string, string>> = [];
  for (let i = 0; i < SOURCES; i++) {
    const source = `bal-${i}`;
    bodies.push(JSON.stringify({ source, metrics: Object.fromEntries(Array.from({ length: BATCH }, (_, m) => [`m${m}`, Math.round(Math.random() * 10_000) / 100])) }));
    bodyHeaders.push({ 'x-source': source });
  }
  return { bodies, bodyHeaders };
}

/** What h2load can send: one fixed body (BATCH sources, one metric each), no X-Source. */
function fixedBody(): string {
  return JSON.stringify(Array.from({ length: BATCH }, (_, i) => ({ source: `bal-fixed-${i}`, metric: 'cpu', value: i })));
}

interface Run extends HttpLoadResult {
  variant: string;
  rep: number;
  samplesPerSec: number;
  forwardedShare: number;
  cpu: { caddy: number; fleetpulse: number; generator: number; otherCores: number };
}

async function measure(ctx: BenchContext, fp: RunningCluster, v: Variant, connections: number, durationS: number): Promise<Omit<Run, 'variant' | 'rep'>> {
  const primary = fp.proc.child.pid!;
  const caddyPid = caddyUnder(primary);
  const before = await scrape(fp.adminUrl);
  const meter = new CpuMeter({ caddy: caddyPid === undefined ? [] : [caddyPid], fleetpulse: [primary], generator: [process.pid] }).start();
  let r: HttpLoadResult;
  if (v.client === 'h2load -m 10') {
    r = await h2load({ url: `${fp.tlsUrl}/api/v1/ingest`, connections, streams: 10, durationS, body: fixedBody(), signal: ctx.signal });
  } else {
    let url = `${fp.url}/api/v1/ingest`;
    if (v.target === 'direct') {
      const info = await getJson<{ workers: Array<{ id: number; address: string }> }>(`${fp.adminUrl}/admin/cluster`);
      url = `http://${info.workers.find((w) => w.id === 0)!.address}/api/v1/ingest`;
    }
    const load = v.load === 'agent' ? agentLoad() : { bodies: [fixedBody()], bodyHeaders: [{}] };
    r = await httpLoad({ url, connections, durationS, ...load, signal: ctx.signal });
  }
  const cpu = meter.stop();
  const after = await scrape(fp.adminUrl);
  const accepted = sumSeries(after, 'fleetpulse_ingest_samples_total', { result: 'accepted' }) - sumSeries(before, 'fleetpulse_ingest_samples_total', { result: 'accepted' });
  const forwarded = sumSeries(after, 'fleetpulse_forwarded_samples_total') - sumSeries(before, 'fleetpulse_forwarded_samples_total');
  return {
    ...r,
    samplesPerSec: r.reqPerSec * BATCH,
    forwardedShare: accepted > 0 ? forwarded / accepted : 0,
    cpu: { caddy: cpu.groups.caddy ?? 0, fleetpulse: cpu.groups.fleetpulse ?? 0, generator: cpu.groups.generator ?? 0, otherCores: cpu.otherCores },
  };
}

export const balancerScenario: Scenario = {
  name: 'balancer',
  description: 'push through each front door: direct worker, node:cluster, Caddy h1/h2c upstreams, Caddy TLS h2 (h2load); CPU of Caddy vs workers',
  timeLimitS: (c) => 120 + c.repeat * VARIANTS.length * (c.durationS + 6),
  async run(ctx) {
    if (!hasBinary('caddy')) throw new Error('caddy is not installed (node scripts/ensure-system-deps.mjs)');
    if (!hasBinary('h2load')) throw new Error('h2load is not installed (apt-get install nghttp2-client)');
    const connections = ctx.quick ? 16 : 32;
    const runs: Run[] = [];
    for (const stack of ['caddy-h1', 'caddy-h2c', 'cluster'] as const) {
      const mine = VARIANTS.filter((v) => v.stack === stack);
      const env: Record<string, string> = { FLEETPULSE_LOG_LEVEL: 'warn' };
      if (stack === 'caddy-h2c') env.FLEETPULSE_UPSTREAM_PROTOCOL = 'h2c';
      ctx.progress(`balancer: starting the ${stack} stack`);
      const fp = await startCluster({ workers: WORKERS, balancer: stack === 'cluster' ? 'cluster' : 'caddy', env });
      try {
        for (const v of ctx.quick ? [] : mine) {
          ctx.progress(`balancer: warm-up ${v.name}`);
          await measure(ctx, fp, v, connections, 2);
        }
        for (let rep = 0; rep < ctx.repeat; rep++) {
          for (const v of mine) {
            ctx.progress(`balancer: run ${rep + 1}/${ctx.repeat} ${v.name}`);
            runs.push({ variant: v.name, rep, ...(await measure(ctx, fp, v, connections, ctx.durationS)) });
          }
        }
      } finally {
        await fp.stop();
      }
    }

    const agg = VARIANTS.map((v) => {
      const rs = runs.filter((r) => r.variant === v.name);
      const med = (f: (r: Run) => number): number => spread(rs.map(f)).median;
      return {
        v, rps: spread(rs.map((r) => r.reqPerSec)), sps: med((r) => r.samplesPerSec), p50: med((r) => r.latencyMs.p50), p99: med((r) => r.latencyMs.p99),
        errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0), forwarded: med((r) => r.forwardedShare),
        caddy: med((r) => r.cpu.caddy), fleetpulse: med((r) => r.cpu.fleetpulse), generator: med((r) => r.cpu.generator), other: med((r) => r.cpu.otherCores),
      };
    });
    const by = (name: string): (typeof agg)[number] => agg.find((a) => a.v.name === name)!;
    const base = by('direct to worker 0');
    const rows = agg.map((a) => [
      a.v.name, a.v.client, a.v.load === 'agent' ? `1 source × ${BATCH}, X-Source` : `${BATCH} sources, no X-Source`,
      a.rps.median, a.sps, a.p50, a.p99, a.errors, `${(a.forwarded * 100).toFixed(1)}%`, a.caddy, a.fleetpulse, a.generator, a.other,
      a.v.load === 'agent' ? ratio(a.rps.median, base.rps.median) : '–',
    ]);
    const summary: Record<string, unknown> = {};
    for (const a of agg) {
      summary[a.v.name] = { reqPerSec: a.rps, samplesPerSec: a.sps, p50Ms: a.p50, p99Ms: a.p99, errors: a.errors, forwardedShare: a.forwarded, cpuCores: { caddy: a.caddy, fleetpulse: a.fleetpulse, generator: a.generator, other: a.other } };
    }

    const pct = (x: number): string => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(0)}%`;
    const h1 = by('Caddy, h1 upstream');
    const h2c = by('Caddy, h2c upstream');
    const cl = by('node:cluster port');
    const tls1 = by('Caddy TLS h2, h1 upstream');
    const ctl = by('Caddy h1 upstream, fixed body (control)');
    const findings = [
      `Through Caddy (h1 upstream) the agent load ran at ${pct(ratio(h1.rps.median, base.rps.median))} requests/s against the direct-to-worker baseline (p99 ${h1.p99.toFixed(1)} vs ${base.p99.toFixed(1)} ms); Caddy itself used ${h1.caddy.toFixed(2)} cores next to ${h1.fleetpulse.toFixed(2)} for FleetPulse: on a 2-core box the proxy competes with the workers for the same CPU.`,
      `X-Source hashing: ${(h1.forwarded * 100).toFixed(1)}% of samples forwarded between workers through Caddy vs ${(base.forwarded * 100).toFixed(1)}% sent straight to one worker and ${(cl.forwarded * 100).toFixed(1)}% through the node:cluster port (which cannot see the source).`,
      `h2c upstreams vs HTTP/1.1 upstreams: ${pct(ratio(h2c.rps.median, h1.rps.median))} requests/s, Caddy CPU ${h2c.caddy.toFixed(2)} vs ${h1.caddy.toFixed(2)} cores, p99 ${h2c.p99.toFixed(1)} vs ${h1.p99.toFixed(1)} ms.`,
      `node:cluster shared port vs Caddy (h1): ${pct(ratio(cl.rps.median, h1.rps.median))} requests/s with no proxy process, at the price of no source stickiness, no TLS/h2 and no health checks in front.`,
      `TLS h2 from the client (h2load -m 10) vs the same fixed body over cleartext HTTP/1.1 (autocannon): ${pct(ratio(tls1.rps.median, ctl.rps.median))} requests/s; different generators on the same cores, so read it as an order of magnitude.`,
      'All generators share the 2 cores with Caddy and the workers ("generator" and "other" columns); compare rows within this run only.',
    ];
    const chart = 'balancer-requests.svg';
    writeFileSync(join(ctx.outDir, chart), barChart(`Push (batch ${BATCH}) by front door, requests/s at ${connections} connections (median, min–max)`, 'req/s', agg.map((a) => ({ label: a.v.name, value: a.rps.median, min: a.rps.min, max: a.rps.max }))));
    return {
      title: 'Balancer: direct worker vs node:cluster vs Caddy (h1/h2c upstreams, TLS h2)',
      params: { workers: WORKERS, connections, batch: BATCH, sources: SOURCES, durationS: ctx.durationS, repeat: ctx.repeat, state: 'memory' },
      runs: runs as unknown as Array<Record<string, unknown>>,
      summary,
      tables: [{
        title: 'Throughput, latency, forwarding and CPU (cores) per front door (median of repeats)',
        columns: ['front door', 'client', 'load', 'req/s', 'samples/s', 'p50 ms', 'p99 ms', 'errors', 'forwarded', 'Caddy CPU', 'FleetPulse CPU', 'generator CPU', 'other CPU', 'req/s vs direct'],
        rows,
      }],
      findings,
      charts: [chart],
    };
  },
};

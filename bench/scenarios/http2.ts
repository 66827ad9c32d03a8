/**
 * bench/http2: push ingest over HTTP/2 vs HTTP/1.1 at the same number of connections, in the same
 * run, on three paths:
 * - direct: the workers' shared port (node:cluster; one port speaks HTTP/1.1 and h2c by preface);
 * - Caddy: the public cleartext port (h1 + h2c prior knowledge; Caddy → workers over HTTP/1.1);
 * - Caddy TLS: the TLS port (h2 by ALPN, Caddy's internal CA).
 * HTTP/2 runs use h2load with one stream per connection (-m 1) and with multiplexing (-m 10);
 * HTTP/1.1 runs use autocannon (the push scenario's generator) and, as a same-generator control,
 * h2load --h1: autocannon is JavaScript and h2load is C, and both share the 2 cores with the
 * servers, so a generator's own cost must not pass for a protocol difference.
 * Every request carries the same body: one tick of 10 hosts (10 samples, 10 sources).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type RunningCluster } from '../../node/testing/cluster.js';
import { hasBinary } from '../../node/testing/binaries.js';
import { CpuMeter } from '../lib/cpu.js';
import { h2load } from '../lib/h2load.js';
import { httpLoad, type HttpLoadResult } from '../lib/load.js';
import { median, ratio, spread, type Spread } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import type { BenchContext, Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const BATCH = 10;

type Path = 'direct' | 'caddy' | 'caddy-tls';
type Client = 'h1 autocannon' | 'h1 h2load' | 'h2 -m 1' | 'h2 -m 10';
interface Variant { path: Path; client: Client }

const PATH_LABEL: Record<Path, string> = { direct: 'direct (worker port)', caddy: 'Caddy cleartext', 'caddy-tls': 'Caddy TLS' };

function body(): string {
  const samples = Array.from({ length: BATCH }, (_, i) => ({ source: `h2-${String(i).padStart(3, '0')}`, metric: 'cpu', value: Math.round(Math.random() * 10_000) / 100, unit: '%' }));
  return JSON.stringify(samples);
}

async function once(ctx: BenchContext, base: string, v: Variant, connections: number, durationS: number, b: string): Promise<HttpLoadResult & { protocol: string }> {
  const url = `${base}/api/v1/ingest`;
  switch (v.client) {
    case 'h1 autocannon':
      return { ...(await httpLoad({ url, connections, durationS, bodies: [b], signal: ctx.signal })), protocol: 'http/1.1' };
    case 'h1 h2load':
      return h2load({ url, connections, streams: 1, durationS, body: b, h1: true, signal: ctx.signal });
    case 'h2 -m 1':
      return h2load({ url, connections, streams: 1, durationS, body: b, signal: ctx.signal });
    case 'h2 -m 10':
      return h2load({ url, connections, streams: 10, durationS, body: b, signal: ctx.signal });
  }
}

export const http2Scenario: Scenario = {
  name: 'http2',
  description: 'push over HTTP/2 (h2load, h2c and TLS h2, -m 1 vs -m 10) vs HTTP/1.1 at the same connections: direct, through Caddy, Caddy TLS',
  timeLimitS: (c) => 90 + c.repeat * 12 * (c.durationS + 3),
  async run(ctx) {
    if (!hasBinary('h2load')) throw new Error('h2load is not installed (apt-get install nghttp2-client, or node scripts/ensure-system-deps.mjs)');
    if (!hasBinary('caddy')) throw new Error('caddy is not installed (node scripts/ensure-system-deps.mjs)');
    const connections = ctx.quick ? 16 : 32;
    const clients: Client[] = ['h1 autocannon', 'h1 h2load', 'h2 -m 1', 'h2 -m 10'];
    const paths: Path[] = ['direct', 'caddy', 'caddy-tls'];
    // --quick: every path and every generator once, not every combination.
    const quickSet = new Set(['direct:h1 autocannon', 'direct:h2 -m 1', 'direct:h2 -m 10', 'caddy:h1 h2load', 'caddy-tls:h2 -m 10']);
    const variants: Variant[] = paths.flatMap((path) => clients.map((client) => ({ path, client }))).filter((v) => !ctx.quick || quickSet.has(`${v.path}:${v.client}`));
    const b = body();
    const runs: Array<Record<string, unknown>> = [];

    // Two stacks, one after the other: the shared-port cluster (direct) and the Caddy topology.
    for (const stack of ['direct', 'caddy'] as const) {
      const fp: RunningCluster = await startCluster({ workers: WORKERS, balancer: stack === 'direct' ? 'cluster' : 'caddy', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
      try {
        const baseOf = (p: Path): string => (p === 'caddy-tls' ? fp.tlsUrl ?? '' : fp.url);
        const mine = variants.filter((v) => (stack === 'direct') === (v.path === 'direct'));
        if (stack === 'caddy' && fp.tlsUrl === undefined) throw new Error('the Caddy stack announced no tlsUrl');
        // Warm-up per path, both protocols (JIT, Caddy's upstream pools, series creation).
        for (const p of ctx.quick ? [] : new Set(mine.map((v) => v.path))) {
          ctx.progress(`http2: warm-up ${PATH_LABEL[p]}`);
          await once(ctx, baseOf(p), { path: p, client: 'h1 autocannon' }, connections, 1, b);
          await once(ctx, baseOf(p), { path: p, client: 'h2 -m 10' }, connections, 1, b);
        }
        for (let rep = 0; rep < ctx.repeat; rep++) {
          for (const v of mine) {
            ctx.progress(`http2: run ${rep + 1}/${ctx.repeat} ${PATH_LABEL[v.path]} ${v.client}, ${connections} connections`);
            // Servers = primary, workers and Caddy; generator = this process and its h2load child.
            const meter = new CpuMeter({ servers: [fp.proc.child.pid!], generator: [process.pid] }).start();
            const r = await once(ctx, baseOf(v.path), v, connections, ctx.durationS, b);
            const cpu = meter.stop();
            runs.push({ ...v, rep, connections, ...r, samplesPerSec: r.reqPerSec * BATCH, serverCores: cpu.groups.servers ?? 0, generatorCores: cpu.groups.generator ?? 0, otherCores: cpu.otherCores });
          }
        }
      } finally {
        await fp.stop();
      }
    }

    type Row = HttpLoadResult & { protocol: string; samplesPerSec: number; serverCores: number; generatorCores: number } & Variant;
    const agg = variants.map((v) => {
      const rs = runs.filter((r) => r.path === v.path && r.client === v.client) as unknown as Row[];
      return {
        v,
        protocol: rs[0]?.protocol ?? '–',
        rps: spread(rs.map((r) => r.reqPerSec)),
        p50: spread(rs.map((r) => r.latencyMs.p50)).median,
        p99: spread(rs.map((r) => r.latencyMs.p99)).median,
        errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
        serverCores: spread(rs.map((r) => r.serverCores)).median,
        generatorCores: spread(rs.map((r) => r.generatorCores)).median,
      };
    });
    const get = (p: Path, c: Client): { rps: Spread; p99: number; p50: number } | undefined => agg.find((a) => a.v.path === p && a.v.client === c);
    const summary: Record<string, unknown> = {};
    for (const a of agg) summary[`${a.v.path}:${a.v.client}`] = { protocol: a.protocol, reqPerSec: a.rps, samplesPerSec: a.rps.median * BATCH, p50Ms: a.p50, p99Ms: a.p99, errors: a.errors, serverCores: a.serverCores, generatorCores: a.generatorCores };

    const rows = agg.map((a) => {
      const h1 = get(a.v.path, 'h1 autocannon');
      return [PATH_LABEL[a.v.path], a.v.client, a.protocol, a.rps.median, `${Math.round(a.rps.min)}–${Math.round(a.rps.max)}`, a.rps.median * BATCH, a.p50, a.p99, a.errors, a.serverCores, a.generatorCores, h1 === undefined ? '–' : ratio(a.rps.median, h1.rps.median)];
    });

    // Findings, from the numbers.
    const findings: string[] = [];
    const pct = (x: number): string => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(0)}%`;
    for (const p of paths) {
      const h1 = get(p, 'h1 autocannon');
      const m1 = get(p, 'h2 -m 1');
      const m10 = get(p, 'h2 -m 10');
      const ctl = get(p, 'h1 h2load');
      if (h1 === undefined || m10 === undefined) continue;
      const parts = [`${PATH_LABEL[p]}: HTTP/2 with 10 streams per connection gave ${Math.round(m10.rps.median).toLocaleString('en-US')} req/s (p99 ${m10.p99.toFixed(1)} ms), ${pct(ratio(m10.rps.median, h1.rps.median))} vs HTTP/1.1 keep-alive with autocannon (${Math.round(h1.rps.median).toLocaleString('en-US')} req/s, p99 ${h1.p99.toFixed(1)} ms) at ${connections} connections`];
      if (m1 !== undefined) parts.push(`with one stream per connection HTTP/2 gave ${Math.round(m1.rps.median).toLocaleString('en-US')} req/s (${pct(ratio(m1.rps.median, h1.rps.median))})`);
      if (ctl !== undefined) parts.push(`HTTP/1.1 from h2load itself gave ${Math.round(ctl.rps.median).toLocaleString('en-US')} req/s (${pct(ratio(ctl.rps.median, h1.rps.median))} vs autocannon: that part is the generator, not the protocol), so against the same generator HTTP/2 -m 10 is ${pct(ratio(m10.rps.median, ctl.rps.median))}`);
      findings.push(`${parts.join('; ')}.`);
    }
    const d10 = get('direct', 'h2 -m 10');
    const d1 = get('direct', 'h2 -m 1');
    if (d10 !== undefined && d1 !== undefined) {
      findings.push(`What multiplexing bought: ${pct(ratio(d10.rps.median, d1.rps.median))} requests/s over one stream per connection on the worker port, at ${(d10.p99 / Math.max(0.001, d1.p99)).toFixed(1)}× the p99 (10× the requests in flight queue on the same two workers). It removes per-request round trips, not per-request work: validation, routing and the state write are the same per sample, so on 2 cores the gain is bounded by how much of a request's cost was waiting rather than CPU. Batching samples into fewer requests (see the push scenario) cuts that per-request cost itself.`);
    }
    const t10 = get('caddy-tls', 'h2 -m 10');
    const c10 = get('caddy', 'h2 -m 10');
    if (t10 !== undefined && c10 !== undefined) findings.push(`Caddy TLS (h2 -m 10) gave ${Math.round(t10.rps.median).toLocaleString('en-US')} req/s against ${Math.round(c10.rps.median).toLocaleString('en-US')} on Caddy's cleartext port with the same client (${pct(ratio(t10.rps.median, c10.rps.median))}): the handshake is once per connection, the rest is record encryption on the shared cores. Caddy 2.6.2 talks HTTP/1.1 to the workers (upstreamProtocol h1), so HTTP/2 on the public side changes only the client↔Caddy leg.`);
    const ac = agg.filter((a) => a.v.client === 'h1 autocannon');
    const hl = agg.filter((a) => a.v.client !== 'h1 autocannon');
    const perKreq = (xs: typeof agg): number => median(xs.map((a) => (a.generatorCores / Math.max(1, a.rps.median)) * 1000));
    if (ac.length > 0 && hl.length > 0) findings.push(`Generator cost: autocannon used ${perKreq(ac).toFixed(3)} cores per 1,000 req/s, h2load ${perKreq(hl).toFixed(3)} (medians over the rows); on 2 shared cores every bit the generator spends is taken from the servers.`);
    findings.push('h2load reports only min/max/mean latency; p50/p99 here come from its per-request --log-file. Both generators run on the same 2 cores as the servers, so compare within this run only.');

    const chart = 'http2-requests.svg';
    writeFileSync(join(ctx.outDir, chart), barChart(`Push batch ${BATCH}, requests/s at ${connections} connections (median, min–max)`, 'req/s', agg.map((a) => ({ label: `${PATH_LABEL[a.v.path]} · ${a.v.client}`, value: a.rps.median, min: a.rps.min, max: a.rps.max }))));
    return {
      title: 'Push over HTTP/2 vs HTTP/1.1 (direct, Caddy, Caddy TLS)',
      params: { workers: WORKERS, connections, batch: BATCH, durationS: ctx.durationS, repeat: ctx.repeat, state: 'memory', upstreamProtocol: 'h1', generators: { h1: 'autocannon (and h2load --h1 as control)', h2: 'h2load -t 1' } },
      runs,
      summary,
      tables: [{
        title: `Push, batch ${BATCH} (median of ${ctx.repeat})`,
        columns: ['path', 'client', 'negotiated', 'req/s', 'req/s range', 'samples/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU (cores)', 'generator CPU (cores)', 'req/s vs h1 autocannon'],
        rows,
      }],
      findings,
      charts: [chart],
    };
  },
};

/**
 * bench/scaling: 1, 2, 3, 4 workers (shared port, memory state) under push batch 100 (autocannon,
 * 64 connections) and stream batch 100 (the agent, closed loop): samples/s, p99, and where the
 * CPU went (servers, generator, anything else on the machine). This machine's core count is the
 * point: a worker beyond the cores competes with the other workers and with the load generator.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { startCluster } from '../../node/testing/cluster.js';
import { startAgent } from '../lib/agent.js';
import { CpuMeter, type CpuWindow } from '../lib/cpu.js';
import { httpLoad } from '../lib/load.js';
import { metricTotal, scrapeMetrics } from '../lib/prom.js';
import { ratio, spread, type Spread } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import type { Scenario } from '../lib/scenario.js';

const WORKER_COUNTS = [1, 2, 3, 4];
/** --quick: a smoke check of both transports, not a scaling curve. */
const QUICK_WORKER_COUNTS = [1, 2];
const BATCH = 100;
const CONNECTIONS = 64;
const SOURCES = 10_000;

function pushBodies(): string[] {
  const out: string[] = [];
  for (let j = 0; j < 200; j++) {
    const samples = [];
    for (let k = 0; k < BATCH; k++) samples.push({ source: `scale-${(j * BATCH + k) % SOURCES}`, metric: 'cpu', value: Math.round(Math.random() * 10_000) / 100, unit: '%' });
    out.push(JSON.stringify(samples));
  }
  return out;
}

type Transport = 'push' | 'stream';
/** samplesPerSec is what the generator saw acknowledged; serverSamplesPerSec what the servers counted as accepted over the same window (a cross-check). */
interface Run {
  workers: number; transport: Transport; rep: number; samplesPerSec: number; serverSamplesPerSec: number; p50Ms: number; p99Ms: number; errors: number; cpu: CpuWindow;
  /** Stream only, when errors > 0: the agent's errors by code, and what it dropped or left unacked (a count alone said nothing). */
  errorDetail?: { codes: Record<string, number>; dropped: number; unackedAtExit: number; reconnects: number };
}

async function accepted(adminUrl: string): Promise<number> {
  return metricTotal(await scrapeMetrics(adminUrl), 'fleetpulse_ingest_samples_total', { result: 'accepted' });
}

export const scalingScenario: Scenario = {
  name: 'scaling',
  description: 'workers 1/2/3/4 (memory, shared port): push batch 100 and stream batch 100, samples/s, p99 and CPU split on this machine',
  timeLimitS: (c) => 90 + WORKER_COUNTS.length * (10 + c.repeat * 2 * (c.durationS + 12)),
  async run(ctx) {
    const streamHosts = ctx.quick ? 100 : 500;
    const warmupS = ctx.quick ? 1 : 3;
    const counts = ctx.quick ? QUICK_WORKER_COUNTS : WORKER_COUNTS;
    const bodies = pushBodies();
    const runs: Run[] = [];
    for (const workers of counts) {
      const fp = await startCluster({ workers, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
      try {
        const url = `${fp.url}/api/v1/ingest`;
        ctx.progress(`scaling: ${workers} worker(s), warm-up`);
        if (!ctx.quick) await httpLoad({ url, connections: 16, durationS: warmupS, bodies, signal: ctx.signal });
        for (let rep = 0; rep < ctx.repeat; rep++) {
          ctx.progress(`scaling: ${workers} worker(s), push run ${rep + 1}/${ctx.repeat}`);
          const a0 = await accepted(fp.adminUrl);
          const meter = new CpuMeter({ servers: [fp.proc.child.pid!], generator: [process.pid] }).start();
          const r = await httpLoad({ url, connections: CONNECTIONS, durationS: ctx.durationS, bodies, signal: ctx.signal });
          const pushCpu = meter.stop();
          const pushServer = ((await accepted(fp.adminUrl)) - a0) / (pushCpu.wallMs / 1000);
          runs.push({ workers, transport: 'push', rep, samplesPerSec: r.reqPerSec * BATCH, serverSamplesPerSec: pushServer, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, errors: r.errors + r.non2xx, cpu: pushCpu });

          ctx.progress(`scaling: ${workers} worker(s), stream run ${rep + 1}/${ctx.repeat} (${streamHosts} hosts, closed loop)`);
          const agent = startAgent(fp.url, { transport: 'stream', sources: streamHosts, metrics: 10, rate: 0, batch: BATCH, prefix: `sc${workers}r${rep}-` }, ctx.durationS, warmupS, ctx.signal);
          // Measure CPU over the agent's measured window only (after its warm-up).
          await new Promise((res) => setTimeout(res, warmupS * 1000));
          const b0 = await accepted(fp.adminUrl);
          const m2 = new CpuMeter({ servers: [fp.proc.child.pid!], generator: [agent.pid, process.pid] }).start();
          await new Promise((res) => setTimeout(res, ctx.durationS * 1000));
          const cpu = m2.stop(); // before the agent exits, or its CPU time is gone with it
          const serverSamplesPerSec = ((await accepted(fp.adminUrl)) - b0) / (cpu.wallMs / 1000);
          const s = await agent.done;
          const errors = s.errors + s.dropped;
          runs.push({
            workers, transport: 'stream', rep, samplesPerSec: s.samplesPerSec, serverSamplesPerSec, p50Ms: s.ackLatencyMs.p50, p99Ms: s.ackLatencyMs.p99, errors, cpu,
            ...(errors > 0 ? { errorDetail: { codes: s.errorCodes, dropped: s.dropped, unackedAtExit: s.unackedAtExit, reconnects: s.reconnects } } : {}),
          });
        }
      } finally {
        await fp.stop();
      }
    }

    const cores = os.availableParallelism();
    const agg = (w: number, t: Transport): { sps: Spread; server: number; p99: number; p50: number; errors: number; servers: number; generator: number; other: number } => {
      const rs = runs.filter((r) => r.workers === w && r.transport === t);
      const med = (f: (r: Run) => number): number => spread(rs.map(f)).median;
      return { sps: spread(rs.map((r) => r.samplesPerSec)), server: med((r) => r.serverSamplesPerSec), p50: med((r) => r.p50Ms), p99: med((r) => r.p99Ms), errors: rs.reduce((a, r) => a + r.errors, 0), servers: med((r) => r.cpu.groups.servers ?? 0), generator: med((r) => r.cpu.groups.generator ?? 0), other: med((r) => r.cpu.otherCores) };
    };
    const summary: Record<string, unknown> = { cores };
    const tables = (['push', 'stream'] as const).map((t) => {
      const base = agg(1, t);
      return {
        title: `${t === 'push' ? `Push, batch ${BATCH}, ${CONNECTIONS} connections (autocannon)` : `Stream, batch ${BATCH}, ${streamHosts} hosts closed loop (agent)`} — median of ${ctx.repeat}`,
        columns: ['workers', 'samples/s', 'range', 'server-counted samples/s', 'vs 1 worker', 'p50 ms', 'p99 ms', 'errors', 'server CPU (cores)', 'generator CPU (cores)', 'other load (cores)'],
        rows: counts.map((w) => {
          const a = agg(w, t);
          summary[`${t}:${w}`] = { samplesPerSec: a.sps, serverSamplesPerSec: a.server, p50Ms: a.p50, p99Ms: a.p99, errors: a.errors, serverCores: a.servers, generatorCores: a.generator, otherCores: a.other };
          return [w, a.sps.median, `${Math.round(a.sps.min)}–${Math.round(a.sps.max)}`, a.server, ratio(a.sps.median, base.sps.median), a.p50, a.p99, a.errors, a.servers, a.generator, a.other];
        }),
      };
    });

    const findings: string[] = [];
    for (const t of ['push', 'stream'] as const) {
      const a = counts.map((w) => agg(w, t));
      const best = a.reduce((m, x, i) => (x.sps.median > a[m]!.sps.median ? i : m), 0);
      const two = a[1]!;
      const last = a[a.length - 1]!;
      const parts = [`${t === 'push' ? 'Push' : 'Stream'}: 2 workers gave ${ratio(two.sps.median, a[0]!.sps.median).toFixed(2)}× one worker's samples/s`];
      if (counts.length > 2) parts.push(`${counts[counts.length - 1]} workers ${ratio(last.sps.median, two.sps.median).toFixed(2)}× two`);
      findings.push(`${parts.join(', ')} (best: ${counts[best]} worker(s), ${Math.round(a[best]!.sps.median).toLocaleString('en-US')} samples/s). With 2 workers the servers used ${two.servers.toFixed(2)} cores and the generator ${two.generator.toFixed(2)} on this ${cores}-core machine; p99 was ${a[0]!.p99.toFixed(1)} ms with 1 worker and ${last.p99.toFixed(1)} ms with ${counts[counts.length - 1]}.`);
    }
    findings.push(`This machine has ${cores} cores and the load generator runs on them too. A second worker can add a core; a third and fourth cannot, they only add processes that take turns on the same cores (and in memory mode a push request's samples of sources another worker owns are forwarded to it, so more workers mean more forwarding for push; a stream with X-Source is handed to its owner once, at the upgrade, and forwards nothing). Read past ${cores} workers as the cost of oversubscription, not as how FleetPulse scales on a bigger machine: there, workers up to the core count (minus what the generator and Caddy need) are the useful range.`);
    const other = Math.max(...runs.map((r) => r.cpu.otherCores));
    if (other > 0.2) findings.push(`Other work on the machine used up to ${other.toFixed(2)} cores during these runs; the numbers are lower than a quiet machine would give.`);

    const chart = 'scaling-samples.svg';
    writeFileSync(join(ctx.outDir, chart), barChart('Samples/s by worker count (median, min–max)', 'samples/s', (['push', 'stream'] as const).flatMap((t) => counts.map((w) => {
      const a = agg(w, t);
      return { label: `${t} · ${w} worker${w > 1 ? 's' : ''}`, value: a.sps.median, min: a.sps.min, max: a.sps.max };
    }))));
    return {
      title: `Scaling: ${counts.join('/')} workers on ${cores} cores`,
      params: { workerCounts: counts, batch: BATCH, connections: CONNECTIONS, sources: SOURCES, streamHosts, durationS: ctx.durationS, warmupS, repeat: ctx.repeat, balancer: 'cluster', state: 'memory', cores },
      runs: runs.map((r) => ({ ...r })),
      summary,
      tables,
      findings,
      charts: [chart],
    };
  },
};

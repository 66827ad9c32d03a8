/**
 * bench/stream: WebSocket stream ingest, driven by the real agent (`fleetpulse agent`, a child
 * process: exactly-once protocol, 1,000 connections, one per simulated host).
 * 1. Throughput, closed loop (each host sends as fast as its acks return), batch 100 samples per
 *    message: FleetPulse (2 workers, memory state, shared port) vs a raw-`ws` server that only
 *    parses the JSON and acks (bench/baselines/bare-stream.ts), measured in the same run.
 * 2. Ack latency at 50% of FleetPulse's measured maximum (open loop, same 1,000 connections).
 * 3. Many idle-ish connections: 10,000 hosts × 10 metrics at 1 message/s, RSS per connection.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, CLI, type RunningCluster } from '../../node/testing/cluster.js';
import { spawnProcess } from '../../node/testing/process.js';
import type { AgentSummary } from '../../node/agent/agent.js';
import { rssOf, startBareStream } from '../lib/servers.js';
import { ratio, spread } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import type { BenchContext, Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const CONNECTIONS = 1000;
const METRICS = 10;
const BATCH = 100;

/** Run the agent CLI against `url` and return its summary line. */
async function agent(ctx: BenchContext, url: string, args: string[], durationS: number, warmupS: number): Promise<AgentSummary> {
  const p = spawnProcess(process.execPath, [CLI, 'agent', '--url', url, '--quiet', '--duration', String(durationS + warmupS), '--warmup', String(warmupS), ...args]);
  const onAbort = (): void => void p.stop(1000);
  ctx.signal.addEventListener('abort', onAbort);
  try {
    const code = await p.exited;
    const line = p.output().split('\n').find((l) => l.startsWith('{"transport"'));
    if (line === undefined) throw new Error(`agent exited ${code} without a summary:\n${p.output().slice(-2000)}`);
    return JSON.parse(line) as AgentSummary;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

async function workerPids(c: RunningCluster): Promise<number[]> {
  const a = (await (await fetch(`${c.adminUrl}/admin/cluster`)).json()) as { workers: Array<{ pid: number }> };
  return a.workers.map((w) => w.pid);
}

async function metricSum(c: RunningCluster, name: string): Promise<number> {
  const text = await (await fetch(`${c.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

const row = (s: AgentSummary): Record<string, number> => ({
  samplesPerSec: s.samplesPerSec, messagesPerSec: s.messagesPerSec, p50Ms: s.ackLatencyMs.p50, p99Ms: s.ackLatencyMs.p99, errors: s.errors + s.dropped, reconnects: s.reconnects,
  generatorCpuSeconds: s.cpuSeconds, durationS: s.durationS,
});

export const streamScenario: Scenario = {
  name: 'stream',
  description: 'WebSocket stream ingest: 1,000 connections at batch 100 vs a raw-ws baseline, ack latency at 50% load, 10,000 connections RSS',
  timeLimitS: (c) => 120 + c.repeat * 3 * (c.durationS + 25) + (c.durationS + 60),
  async run(ctx) {
    // 1,000 connections open 100 at a time and create 10,000 series: leave that out of the numbers.
    const warmupS = ctx.quick ? 1 : 5;
    const manyConnections = ctx.quick ? 1000 : 10_000;
    const runs: Array<Record<string, unknown>> = [];
    const streamArgs = (sources: number, rate: number, batch: number, prefix: string): string[] =>
      ['--transport', 'stream', '--sources', String(sources), '--metrics', String(METRICS), '--rate', String(rate), '--batch', String(batch), '--prefix', prefix];

    // 1. Throughput, closed loop, FleetPulse and the baseline alternating in each repeat.
    const fp = await startCluster({ workers: WORKERS, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
    const bare = await startBareStream(WORKERS);
    const max: { fleetpulse: AgentSummary[]; bare: AgentSummary[] } = { fleetpulse: [], bare: [] };
    let atHalf: AgentSummary[] = [];
    let halfRate = 0;
    try {
      for (let rep = 0; rep < ctx.repeat; rep++) {
        for (const target of ['bare', 'fleetpulse'] as const) {
          ctx.progress(`stream: run ${rep + 1}/${ctx.repeat} ${target}, ${CONNECTIONS} connections, batch ${BATCH}, closed loop`);
          const s = await agent(ctx, target === 'bare' ? bare.url : fp.url, streamArgs(CONNECTIONS, 0, BATCH, `max${rep}-`), ctx.durationS, warmupS);
          max[target].push(s);
          runs.push({ phase: 'max', target, rep, ...row(s) });
        }
      }
      // 2. Ack latency at half the measured maximum (open loop: the generator does not slow down).
      const fpMax = spread(max.fleetpulse.map((s) => s.samplesPerSec)).median;
      halfRate = Math.max(0.1, Math.round(((0.5 * fpMax) / (CONNECTIONS * METRICS)) * 100) / 100);
      atHalf = [];
      for (let rep = 0; rep < ctx.repeat; rep++) {
        ctx.progress(`stream: run ${rep + 1}/${ctx.repeat} fleetpulse at 50% (${halfRate} ticks/s per host)`);
        const s = await agent(ctx, fp.url, streamArgs(CONNECTIONS, halfRate, BATCH, `half${rep}-`), ctx.durationS, warmupS);
        atHalf.push(s);
        runs.push({ phase: 'half', target: 'fleetpulse', rep, rate: halfRate, ...row(s) });
      }
    } finally {
      await fp.stop();
      await bare.stop();
    }

    // 3. Many idle-ish connections on a fresh cluster: RSS before and while they stream.
    ctx.progress(`stream: ${manyConnections.toLocaleString('en-US')} connections at 1 message/s`);
    const idle = await startCluster({ workers: WORKERS, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
    let many: AgentSummary;
    let rssBefore = 0;
    let rssDuring = 0;
    let openSeen = 0;
    let seriesBytes = 0;
    try {
      const pids = await workerPids(idle);
      rssBefore = await rssOf(pids);
      const run = agent(ctx, idle.url, streamArgs(manyConnections, 1, METRICS, 'idle-'), Math.max(ctx.durationS, 5), warmupS + 2);
      // Sample while the agent runs (after everyone connected).
      const deadline = Date.now() + (Math.max(ctx.durationS, 5) + warmupS + 1) * 1000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const open = await metricSum(idle, 'fleetpulse_stream_connections');
        if (open >= openSeen) {
          openSeen = open;
          rssDuring = Math.max(rssDuring, await rssOf(pids));
          seriesBytes = await metricSum(idle, 'fleetpulse_state_series_bytes');
        }
      }
      many = await run;
    } finally {
      await idle.stop();
    }
    const perConn = (rssDuring - rssBefore) / Math.max(1, openSeen);
    const perConnNoSeries = (rssDuring - rssBefore - seriesBytes) / Math.max(1, openSeen);
    runs.push({ phase: 'connections', connections: manyConnections, open: openSeen, rssBefore, rssDuring, seriesBytes, ...row(many) });

    const fpS = spread(max.fleetpulse.map((s) => s.samplesPerSec));
    const bareS = spread(max.bare.map((s) => s.samplesPerSec));
    const med = (xs: AgentSummary[], f: (s: AgentSummary) => number): number => spread(xs.map(f)).median;
    const r = ratio(fpS.median, bareS.median);
    const halfP99 = med(atHalf, (s) => s.ackLatencyMs.p99);
    const summary = {
      fleetpulseSamplesPerSec: fpS, bareSamplesPerSec: bareS, ratioVsBare: r,
      fleetpulseMessagesPerSec: med(max.fleetpulse, (s) => s.messagesPerSec), bareMessagesPerSec: med(max.bare, (s) => s.messagesPerSec),
      halfLoad: { ticksPerSecPerHost: halfRate, samplesPerSec: med(atHalf, (s) => s.samplesPerSec), p50Ms: med(atHalf, (s) => s.ackLatencyMs.p50), p99Ms: halfP99 },
      connections: { wanted: manyConnections, open: openSeen, rssBeforeBytes: rssBefore, rssDuringBytes: rssDuring, seriesBytes, rssPerConnectionBytes: perConn, rssPerConnectionExclSeriesBytes: perConnNoSeries, p99Ms: many.ackLatencyMs.p99, errors: many.errors },
    };
    const kib = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;
    const chart = 'stream-samples.svg';
    writeFileSync(join(ctx.outDir, chart), barChart(`Stream ingest, samples/s at batch ${BATCH}, ${CONNECTIONS} connections (median, min–max)`, 'samples/s', [
      { label: 'raw ws (parse only)', value: bareS.median, min: bareS.min, max: bareS.max },
      { label: 'FleetPulse', value: fpS.median, min: fpS.min, max: fpS.max },
    ]));
    return {
      title: 'Stream ingest (WebSocket): FleetPulse vs a raw ws server',
      params: { workers: WORKERS, connections: CONNECTIONS, metrics: METRICS, batch: BATCH, durationS: ctx.durationS, warmupS, repeat: ctx.repeat, manyConnections, balancer: 'cluster', state: 'memory', generator: 'fleetpulse agent (child process, same machine)' },
      runs,
      summary,
      tables: [
        {
          title: `Throughput, closed loop, ${CONNECTIONS} connections, batch ${BATCH} (median of ${ctx.repeat})`,
          columns: ['target', 'samples/s', 'range', 'messages/s', 'ack p50 ms', 'ack p99 ms', 'errors', 'vs raw ws'],
          rows: [
            ['raw ws (parse + ack)', bareS.median, `${Math.round(bareS.min)}–${Math.round(bareS.max)}`, summary.bareMessagesPerSec, med(max.bare, (s) => s.ackLatencyMs.p50), med(max.bare, (s) => s.ackLatencyMs.p99), max.bare.reduce((a, s) => a + s.errors, 0), 1],
            ['FleetPulse', fpS.median, `${Math.round(fpS.min)}–${Math.round(fpS.max)}`, summary.fleetpulseMessagesPerSec, med(max.fleetpulse, (s) => s.ackLatencyMs.p50), med(max.fleetpulse, (s) => s.ackLatencyMs.p99), max.fleetpulse.reduce((a, s) => a + s.errors, 0), r],
          ],
        },
        {
          title: 'Ack latency at 50% of the measured maximum (open loop)',
          columns: ['ticks/s per host', 'samples/s', 'ack p50 ms', 'ack p99 ms', 'errors'],
          rows: [[halfRate, summary.halfLoad.samplesPerSec, summary.halfLoad.p50Ms, halfP99, atHalf.reduce((a, s) => a + s.errors, 0)]],
        },
        {
          title: `${manyConnections.toLocaleString('en-US')} connections × ${METRICS} metrics at 1 message/s`,
          columns: ['connections open', 'samples/s', 'ack p99 ms', 'worker RSS before', 'worker RSS during', 'RSS per connection', 'excl. series storage', 'errors'],
          rows: [[openSeen, many.samplesPerSec, many.ackLatencyMs.p99, `${(rssBefore / 2 ** 20).toFixed(0)} MiB`, `${(rssDuring / 2 ** 20).toFixed(0)} MiB`, kib(perConn), kib(perConnNoSeries), many.errors]],
        },
      ],
      findings: [
        `At batch ${BATCH}, FleetPulse acknowledged ${Math.round(fpS.median).toLocaleString('en-US')} samples/s, ${(r * 100).toFixed(0)}% of the raw ws server's parse-and-ack rate (target ≥ 70%). The difference is per-sample validation, the owner split with IPC forwarding (half the hosts belong to the other worker), the ring-buffer writes, and the exactly-once bookkeeping (a claim before and a record after each group of messages).`,
        `At 50% of that maximum, ack latency p99 was ${halfP99.toFixed(1)} ms (target ≤ 100 ms); acks are cumulative and sent at most every 50 ms per connection, or at once after 1,000 samples, so a single message's ack waits for its apply plus at most that.`,
        `${openSeen.toLocaleString('en-US')} stream connections held by ${WORKERS} workers cost ${kib(perConn)} of worker RSS each including their ${METRICS} series, ${kib(perConnNoSeries)} excluding series storage.`,
        `The load generator shares the machine's cores with the servers (it used ${med(max.fleetpulse, (s) => s.cpuSeconds).toFixed(1)} CPU-s against FleetPulse and ${med(max.bare, (s) => s.cpuSeconds).toFixed(1)} CPU-s against raw ws per run): both targets are driven by the same generator in the same run, so the ratio is the meaningful number, and when the generator itself is the bottleneck the ratio understates the servers' difference.`,
      ],
      charts: [chart],
    };
  },
};

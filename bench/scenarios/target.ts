/**
 * bench/target: the original project's stated target — 10,000 servers × 10 metrics × 1 sample/s
 * (100,000 samples/s) over the stream transport (the real agent, one WebSocket per server) with
 * 500 dashboards on the cpu Fleet room (every 10th also on a series room) — at the default
 * live.flushMs (250) and at live.flushMs 100 (FLEETPULSE_CONFIG). Does it hold?
 * - ingest: the samples/s the servers accepted over the window (fleetpulse_ingest_samples_total)
 *   equal to the offered rate (99–105%; more means a backlog was still draining), and from the agent: no errors, nothing the generator had to
 *   drop, no reconnects (counted from the start, ramp included). The window opens once all servers
 *   are connected and the backlog they queued while connecting has drained (`drained`);
 * - live: p99 sample-to-broadcast ≤ live.flushMs + 50 ms, judged per sample: the server's
 *   fleetpulse_live_broadcast_latency_seconds histogram (one observation per series bucket emitted,
 *   i.e. per sample at 1 sample/s per series) has flushMs + 50 as a bucket bound, so the share of
 *   samples within the limit is exact and p99 ≤ limit ⟺ share ≥ 99%. Reported beside it, the
 *   conservative bound per update the simulated dashboards see: the age of its OLDEST sample at
 *   emit (`at − recv[0]`). At flushMs 100, also sample-to-screen ≤ 200 ms (p99) in Chromium on the
 *   Fleet view, as the page measures it (oldest sample of each update to the paint showing it).
 * Also: broadcast-to-client and sample-to-client latency (same clock), and where the CPU went.
 * --quick: 200 servers and 20 dashboards (a smoke check, not the target).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { startCluster } from '../../node/testing/cluster.js';
import { hostName } from '../../node/agent/encode.js';
import type { AgentSummary } from '../../node/agent/agent.js';
import { startAgent } from '../lib/agent.js';
import { CpuMeter } from '../lib/cpu.js';
import { metricTotal, scrapeMetrics } from '../lib/prom.js';
import { median, percentile, range } from '../lib/stats.js';
import { launchChromium, type Browser } from '../../node/testing/chromium.js';
import type { Page } from 'playwright-core';
import { barChart } from '../lib/svg.js';
import { liveWindow, startViewers, type LiveWindow } from '../lib/viewers.js';
import type { Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const METRICS = 10;
const RATE = 1;
const SERIES_EVERY = 10;
const PREFIX = 'srv-';
const FLUSH_VARIANTS = [250, 100] as const;

/** The variant a real browser watches too: the issue's sample-to-screen target is for flushMs 100. */
const BROWSER_FLUSH_MS = 100;
const SCREEN_LIMIT_MS = 200;

interface Screen { count: number; p50: number; p99: number; max: number }
interface Run extends LiveWindow { flushMs: number; rep: number; connectS: number; drainS: number; drainedOk: boolean; agent: AgentSummary; screen?: Screen }

/**
 * Sample-to-screen in a real browser: Chromium on the Fleet view, its measurements (per live
 * update, its oldest sample's receive time to the paint that shows it, dashboard/controllers/
 * live-connection.ts) taken from the page every second over the window — the page would
 * otherwise report them to the server only every 15 s, as a reservoir sample.
 */
async function screenWindow(page: Page, during: Promise<unknown>): Promise<Screen> {
  const take = (): Promise<number[]> => page.evaluate(() => (globalThis as unknown as { __fleetpulse?: { takeLatency(): number[] } }).__fleetpulse?.takeLatency() ?? []);
  await take(); // what was painted before the window
  const values: number[] = [];
  let done = false;
  const stop = (): void => {
    done = true;
  };
  during.then(stop, stop);
  while (!done) {
    await Promise.race([during, new Promise((r) => setTimeout(r, 1000))]);
    values.push(...(await take()).map((s) => s * 1000));
  }
  return { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: values.length === 0 ? Number.NaN : Math.max(...values) };
}

/**
 * Bound on the connect ramp: 10,000 agents starting at once on the machine that also runs the
 * servers take 60–120 s here (hosts that connect early stream their backlog meanwhile). The target
 * is about steady state; the ramp is reported, not judged.
 */
const CONNECT_TIMEOUT_S = 240;
/** Bound on the wait for the connect ramp's backlog to drain (see `drained`). */
const DRAIN_TIMEOUT_S = 180;
/** The backlog counts as drained once the accepted rate over the drain window is this close to the offered one. */
const DRAINED_SHARE = 1.02;
const DRAIN_WINDOW_S = 10;
/** --quick's 200 servers queue a backlog of a second or two; a 10 s window alone would take a tenth of `all --quick`. */
const QUICK_DRAIN_WINDOW_S = 2;

/** Seconds until the servers hold `n` stream connections (polling the admin /metrics); throws after `timeoutS`. */
async function allConnected(adminUrl: string, n: number, timeoutS: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const open = metricTotal(await scrapeMetrics(adminUrl), 'fleetpulse_stream_connections');
    if (open >= n) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutS * 1000) throw new Error(`only ${open} of ${n} stream connections open after ${timeoutS} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Seconds until the backlog of the connect ramp drained: hosts queue their ticks until they are
 * connected (a real agent does the same), so the servers first take in tens of seconds of samples
 * above the offered rate. Drained = the accepted rate over the last `windowS` is at most
 * DRAINED_SHARE × offered (a shorter window was fooled by the rate's dips while still draining).
 * Gives up after `timeoutS` and says so (the run is then measured anyway, and its accepted share
 * shows the backlog).
 */
async function drained(adminUrl: string, offered: number, windowS: number, timeoutS: number): Promise<{ s: number; ok: boolean }> {
  const t0 = Date.now();
  const seen: Array<{ t: number; n: number }> = [];
  while (Date.now() - t0 < timeoutS * 1000) {
    seen.push({ t: Date.now(), n: metricTotal(await scrapeMetrics(adminUrl), 'fleetpulse_ingest_samples_total') });
    const first = seen[0]!;
    const last = seen[seen.length - 1]!;
    if (last.t - first.t >= windowS * 1000) {
      if (((last.n - first.n) * 1000) / (last.t - first.t) <= DRAINED_SHARE * offered) return { s: (Date.now() - t0) / 1000, ok: true };
      seen.shift();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { s: (Date.now() - t0) / 1000, ok: false };
}

export const targetScenario: Scenario = {
  name: 'target',
  description: "the original target: 10,000 servers × 10 metrics at 1 Hz over stream with 500 dashboards, at live.flushMs 250 and 100 — does it hold",
  timeLimitS: (c) => (c.quick ? 180 : 120 + FLUSH_VARIANTS.length * c.repeat * (c.durationS + 30 + CONNECT_TIMEOUT_S + DRAIN_TIMEOUT_S)),
  async run(ctx) {
    const servers = ctx.quick ? 200 : 10_000;
    const dashboards = ctx.quick ? 20 : 500;
    const settleS = ctx.quick ? 1 : 3;
    const offered = servers * METRICS * RATE;
    const seriesSources = Array.from({ length: 50 }, (_, i) => hostName(i * Math.floor(servers / 50), servers, PREFIX));
    const runs: Run[] = [];
    for (const flushMs of FLUSH_VARIANTS) {
      const env: Record<string, string> = { FLEETPULSE_LOG_LEVEL: 'warn' };
      if (flushMs !== 250) env.FLEETPULSE_CONFIG = JSON.stringify({ live: { flushMs } });
      const fp = await startCluster({ workers: WORKERS, env });
      let browser: Browser | undefined;
      try {
        ctx.progress(`target: flushMs ${flushMs}, connecting ${dashboards} dashboards`);
        const v = await startViewers({ url: fp.url, clients: dashboards, perProcess: 250, fleetMetric: 'cpu', seriesEvery: SERIES_EVERY, seriesSources, seriesMetric: 'cpu' });
        let page: Page | undefined;
        if (flushMs === BROWSER_FLUSH_MS) {
          browser = await launchChromium({ width: 1280, height: 800 });
          page = browser.context.pages()[0] ?? (await browser.context.newPage());
          await page.goto(`${fp.url}/fleet?metric=cpu`);
          await page.locator('fp-connection-indicator[state="live"]').waitFor({ timeout: 30_000 });
        }
        try {
          for (let rep = 0; rep < ctx.repeat; rep++) {
            ctx.progress(`target: flushMs ${flushMs}, run ${rep + 1}/${ctx.repeat}: ${servers.toLocaleString('en-US')} servers connecting`);
            // The agent runs until stopped after the window, and its summary counts from the window's
            // start (endWarmup): a slow connection ramp and the backlog it leaves are not measured.
            const agent = startAgent(fp.url, { transport: 'stream', sources: servers, metrics: METRICS, rate: RATE, batch: METRICS, prefix: PREFIX }, 86_400, 86_400, ctx.signal);
            try {
              const connectS = await allConnected(fp.adminUrl, servers, CONNECT_TIMEOUT_S);
              ctx.progress(`target: flushMs ${flushMs}, run ${rep + 1}/${ctx.repeat}: connected in ${connectS.toFixed(0)} s; draining the ramp's backlog`);
              const drain = await drained(fp.adminUrl, offered, ctx.quick ? QUICK_DRAIN_WINDOW_S : DRAIN_WINDOW_S, DRAIN_TIMEOUT_S);
              await new Promise((r) => setTimeout(r, settleS * 1000));
              agent.endWarmup();
              ctx.progress(`target: flushMs ${flushMs}, run ${rep + 1}/${ctx.repeat}: ${drain.ok ? `drained in ${drain.s.toFixed(0)} s` : `still draining after ${drain.s.toFixed(0)} s`}; measuring ${ctx.durationS} s`);
              const meter = new CpuMeter({ servers: [fp.proc.child.pid!], agent: [agent.pid], viewers: v.pids });
              const measuring = liveWindow(fp.adminUrl, v, meter, ctx.durationS, flushMs + 50);
              // Both awaited together: a failure of either surfaces here, never as an unhandled rejection.
              const [w, screen] = await Promise.all([measuring, page === undefined ? undefined : screenWindow(page, measuring)]);
              await agent.stop();
              runs.push({ flushMs, rep, connectS, drainS: drain.s, drainedOk: drain.ok, ...w, agent: await agent.done, ...(screen === undefined ? {} : { screen }) });
            } finally {
              await agent.stop();
            }
          }
        } finally {
          await v.close();
        }
      } finally {
        await browser?.close();
        await fp.stop();
      }
    }

    const verdicts = FLUSH_VARIANTS.map((flushMs) => {
      const rs = runs.filter((r) => r.flushMs === flushMs);
      const med = (f: (r: Run) => number): number => median(rs.map(f));
      // Acknowledged rate over exactly the window: what the servers accepted (the agent's own figure, from warm-up end to stop, is kept beside it).
      const acked = med((r) => r.acceptedPerSec);
      const errors = rs.reduce((a, r) => a + r.agent.errors + r.agent.dropped + r.agent.reconnects, 0);
      const s2bOldestP99 = med((r) => r.viewers.sampleToBroadcastMs.p99);
      const limit = flushMs + 50;
      // Per sample (the server histogram, one observation per series bucket emitted, which at
      // 1 sample/s per series is one per sample): the share broadcast within the limit, exact
      // because the limit is a bucket bound. p99 ≤ limit ⟺ that share ≥ 99%.
      const s2bWithin = med((r) => r.serverS2b.withinLimit);
      const screens = rs.flatMap((r) => (r.screen === undefined ? [] : [r.screen]));
      const screenP99 = screens.length === 0 ? Number.NaN : median(screens.map((x) => x.p99));
      // Above the offered rate means a backlog was still draining: it held on average, not steadily.
      const ingestHolds = acked >= 0.99 * offered && acked <= 1.05 * offered && errors === 0;
      const screenHolds = screens.length === 0 || screenP99 <= SCREEN_LIMIT_MS;
      const liveHolds = s2bWithin >= 0.99 && screenHolds;
      return {
        flushMs, limit, acked, ackedShare: acked / offered, errors, agentAcked: med((r) => r.agent.samplesPerSec), connectS: med((r) => r.connectS), drainS: med((r) => r.drainS), drainedAll: rs.every((r) => r.drainedOk),
        ackP99: med((r) => r.agent.ackLatencyMs.p99),
        s2bOldestP50: med((r) => r.viewers.sampleToBroadcastMs.p50), s2bOldestP99, s2bRange: range(rs.map((r) => r.viewers.sampleToBroadcastMs.p99)), ackedRange: range(rs.map((r) => r.acceptedPerSec)),
        s2bServerP50: med((r) => r.serverS2b.p50), s2bServerP99: med((r) => r.serverS2b.p99), s2bWithin,
        screenMeasured: screens.length > 0, screenP50: screens.length === 0 ? Number.NaN : median(screens.map((x) => x.p50)), screenP99, screenMax: screens.length === 0 ? Number.NaN : Math.max(...screens.map((x) => x.max)), screenCount: screens.reduce((a, x) => a + x.count, 0), screenHolds,
        b2cP99: med((r) => r.viewers.broadcastToClientMs.p99), s2cP99: med((r) => r.viewers.sampleToClientMs.p99),
        perClient: med((r) => r.viewers.fleetUpdatesPerClientPerSec), promised: (1000 / flushMs) * WORKERS,
        slow: rs.reduce((a, r) => a + r.slowClientMarks, 0),
        connected: med((r) => r.viewers.connected),
        serverCpu: med((r) => r.cpu.groups.servers ?? 0), agentCpu: med((r) => r.cpu.groups.agent ?? 0), viewerCpu: med((r) => r.cpu.groups.viewers ?? 0), other: med((r) => r.cpu.otherCores),
        viewerProcMax: Math.max(...rs.flatMap((r) => r.viewers.perProcess.map((p) => p.cpuShare))),
        ingestHolds, liveHolds, holds: ingestHolds && liveHolds,
      };
    });
    const summary: Record<string, unknown> = { offeredSamplesPerSec: offered, servers, dashboards };
    for (const x of verdicts) summary[`flushMs${x.flushMs}`] = x;

    const n = (x: number): string => Math.round(x).toLocaleString('en-US');
    const findings = verdicts.map((x) => {
      const what = [`live.flushMs ${x.flushMs}: ${x.holds ? 'HOLDS' : 'DOES NOT HOLD'} on this machine.`,
        `Ingest: the servers accepted ${n(x.acked)} of ${n(offered)} samples/s offered (${(x.ackedShare * 100).toFixed(1)}%; the agent counted ${n(x.agentAcked)} acknowledged), ${x.errors} errors/drops/reconnects, ${n(servers)} connections open after ${x.connectS.toFixed(1)} s, the ramp's backlog ${x.drainedAll ? `drained ${x.drainS.toFixed(0)} s later` : `still draining after ${x.drainS.toFixed(0)} s`} (measured after that), ack p99 ${x.ackP99.toFixed(0)} ms${x.ingestHolds ? '' : ' — the ingest half fails'}.`,
        `Sample-to-broadcast, per sample (server histogram, exact at the limit's bucket bound): ${(x.s2bWithin * 100).toFixed(2)}% of samples broadcast within ${x.limit} ms (p99 ≤ ${x.limit} ms needs ≥ 99%)${x.s2bWithin >= 0.99 ? '' : ' — the live half fails'}; p50 ${x.s2bServerP50.toFixed(0)} ms (interpolated). The conservative bound per update — the age of its oldest sample when emitted, as the simulated dashboards see it — has p99 ${x.s2bOldestP99.toFixed(0)} ms.`,
        `${n(x.connected)} dashboards received ${x.perClient.toFixed(1)} of ${x.promised} fleet updates/s each, broadcast-to-client p99 ${x.b2cP99.toFixed(0)} ms, sample-to-client p99 ${x.s2cP99.toFixed(0)} ms (oldest sample per update, Socket.IO client in Node, before any paint).`,
        ...(x.screenMeasured ? [`In Chromium on the Fleet view (the same 2 cores, at the same priority as the servers), sample-to-screen — per update, its oldest sample's receive time to the paint showing it — p50 ${x.screenP50.toFixed(0)} / p99 ${x.screenP99.toFixed(0)} ms (max ${x.screenMax.toFixed(0)}) over ${n(x.screenCount)} painted updates, against the target of ${SCREEN_LIMIT_MS} ms${x.screenHolds ? '' : ' — not met'}.`] : []),
        `CPU: servers ${x.serverCpu.toFixed(2)} cores, agent ${x.agentCpu.toFixed(2)}, dashboards ${x.viewerCpu.toFixed(2)}, other work ${x.other.toFixed(2)} — all on the same ${os.availableParallelism()} cores.`];
      return what.join(' ');
    });
    if (ctx.quick) findings.unshift(`--quick: ${servers.toLocaleString('en-US')} servers and ${dashboards} dashboards, not the target's 10,000 and 500.`);
    const v250 = verdicts[0]!;
    const v100 = verdicts[1]!;
    findings.push(`Flushing every 100 ms instead of 250 ms moved the sample-to-broadcast p99 (oldest sample per update) from ${v250.s2bOldestP99.toFixed(0)} to ${v100.s2bOldestP99.toFixed(0)} ms and the server CPU from ${v250.serverCpu.toFixed(2)} to ${v100.serverCpu.toFixed(2)} cores: ${(v100.promised / v250.promised).toFixed(1)}× the updates per dashboard, each smaller. Most of the latency is the wait for the next flush, so the flush interval is the knob; the cost is messages per second per dashboard.`);

    const chart = 'target-latency.svg';
    writeFileSync(join(ctx.outDir, chart), barChart(`Target (${servers.toLocaleString('en-US')} servers, ${dashboards} dashboards): p99 latencies`, 'ms', verdicts.flatMap((x) => [
      { label: `flush ${x.flushMs} · limit (flush + 50)`, value: x.limit },
      { label: `flush ${x.flushMs} · sample→broadcast p99`, value: x.s2bOldestP99 },
      { label: `flush ${x.flushMs} · sample→client p99`, value: x.s2cP99 },
    ])));
    const headline = verdicts.map((x) => `The original target (${servers.toLocaleString('en-US')} servers × ${METRICS} metrics at 1 Hz over stream, ${dashboards} dashboards) at live.flushMs ${x.flushMs}: ${x.holds ? 'holds' : 'does NOT hold'} — the servers accepted ${(x.ackedShare * 100).toFixed(1)}% of the offered rate${x.ackedShare > 1.05 ? ' (a backlog still draining)' : ''}, ${x.errors} errors/drops/reconnects, ${(x.s2bWithin * 100).toFixed(2)}% of samples broadcast within ${x.limit} ms (needs ≥ 99%)${x.screenMeasured ? `, browser sample-to-screen p99 ${x.screenP99.toFixed(0)} ms (limit ${SCREEN_LIMIT_MS})` : ''}, servers at ${x.serverCpu.toFixed(2)} cores.`);
    return {
      title: `The original target: ${servers.toLocaleString('en-US')} servers × ${METRICS} metrics at 1 Hz over stream, ${dashboards} dashboards`,
      headline,
      params: { workers: WORKERS, servers, metrics: METRICS, rate: RATE, offeredSamplesPerSec: offered, dashboards, seriesRoomEvery: SERIES_EVERY, dashboardsPerProcess: 250, flushMs: [...FLUSH_VARIANTS], drainedShare: DRAINED_SHARE, drainTimeoutS: DRAIN_TIMEOUT_S, settleAfterDrainS: settleS, durationS: ctx.durationS, repeat: ctx.repeat, transport: 'stream', balancer: 'cluster', state: 'memory' },
      runs: runs.map((r) => ({ ...r, viewers: { ...r.viewers } })),
      summary,
      tables: [{
        title: `Does it hold? (median of ${ctx.repeat})`,
        columns: ['live.flushMs', 'holds', 'accepted samples/s (server)', 'range', 'of offered', 'acked samples/s (agent)', 'connect s', 'backlog drained s', 'errors+drops+reconnects', 'ack p99 ms', 'limit ms', 'samples broadcast within limit', 'sample→broadcast p99 ms (oldest/update)', 'range', 'broadcast→client p99 ms', 'sample→client p99 ms', 'browser sample→screen p99 ms', 'fleet updates/dashboard/s', 'slow-client marks', 'server CPU', 'agent CPU', 'dashboards CPU', 'other CPU'],
        rows: verdicts.map((x) => [x.flushMs, x.holds ? 'yes' : 'no', x.acked, x.ackedRange, `${(x.ackedShare * 100).toFixed(1)}%`, x.agentAcked, x.connectS, x.drainedAll ? x.drainS : `> ${x.drainS.toFixed(0)}`, x.errors, x.ackP99, x.limit, `${(x.s2bWithin * 100).toFixed(2)}%`, x.s2bOldestP99, x.s2bRange, x.b2cP99, x.s2cP99, x.screenMeasured ? x.screenP99 : '–', x.perClient, x.slow, x.serverCpu, x.agentCpu, x.viewerCpu, x.other]),
      }],
      findings,
      charts: [chart],
    };
  },
};

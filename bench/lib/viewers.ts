/**
 * N Socket.IO dashboard clients spread over child processes (bench/lib/viewer-process.ts), so one
 * process's event loop does not cap delivery, and each process's CPU is known. Connect them all,
 * then measure a window: start() … stop() → merged latencies and counts.
 */
import { fileURLToPath } from 'node:url';
import { spawnProcess, type Spawned } from '../../node/testing/process.js';
import type { CpuMeter, CpuWindow } from './cpu.js';
import { histogramDelta, histogramQuantile, metricTotal, shareAtOrBelow, readHistogram, scrapeMetrics, type Histogram } from './prom.js';
import { percentile } from './stats.js';
import type { ViewerConfig, ViewerResult } from './viewer-process.js';

const SCRIPT = fileURLToPath(new URL('./viewer-process.js', import.meta.url));

export interface ViewersOptions extends Omit<ViewerConfig, 'clients' | 'first'> {
  clients: number;
  /** Clients per child process (default 1,000). */
  perProcess?: number;
  /** Connect + subscribe deadline for all clients, ms. */
  connectTimeoutMs?: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  n: number;
}

export interface ViewersStats {
  clients: number;
  processes: number;
  connected: number;
  connectFailed: number;
  disconnects: number;
  /** Updates per second per connected client, by kind. */
  fleetUpdatesPerClientPerSec: number;
  seriesUpdatesPerSec: number;
  deliveredPerSec: number;
  /** Per process: CPU share of one core and event-loop delay p99. */
  perProcess: Array<{ cpuShare: number; loopDelayP99Ms: number }>;
  /** Emit → receipt, ms. */
  broadcastToClientMs: Percentiles;
  /** Oldest sample in an update: receipt at the server → emit, ms. */
  sampleToBroadcastMs: Percentiles;
  /** Oldest sample in an update: receipt at the server → receipt at the client, ms. */
  sampleToClientMs: Percentiles;
}

export interface Viewers {
  pids: number[];
  connected: number;
  connectFailed: number;
  start(): void;
  stop(): Promise<ViewersStats>;
  close(): Promise<void>;
}

function pcts(xs: number[]): Percentiles {
  return { p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: percentile(xs, 100), n: xs.length };
}

function waitMessage<T>(p: Spawned, type: string, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no '${type}' within ${timeoutMs} ms. Output:\n${p.output().slice(-2000)}`));
    }, timeoutMs);
    const onMsg = (m: { type: string }): void => {
      if (m.type !== type) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what}: exited (${code}) before '${type}'. Output:\n${p.output().slice(-2000)}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      p.child.off('message', onMsg);
      p.child.off('exit', onExit);
    };
    p.child.on('message', onMsg);
    p.child.once('exit', onExit);
  });
}

export async function startViewers(o: ViewersOptions): Promise<Viewers> {
  const per = o.perProcess ?? 1000;
  const procs: Spawned[] = [];
  for (let first = 0; first < o.clients; first += per) {
    const cfg: ViewerConfig = { url: o.url, clients: Math.min(per, o.clients - first), first, fleetMetric: o.fleetMetric, seriesEvery: o.seriesEvery, seriesSources: o.seriesSources, seriesMetric: o.seriesMetric };
    procs.push(spawnProcess(process.execPath, [SCRIPT, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(procs.map(async (p) => {
      if (p.child.connected) p.child.send({ type: 'exit' });
      await p.stop(3000);
    }));
  };
  let ready: Array<{ connected: number; connectFailed: number }>;
  try {
    ready = await Promise.all(procs.map((p, i) => waitMessage<{ connected: number; connectFailed: number }>(p, 'ready', o.connectTimeoutMs ?? 120_000, `viewer process ${i}`)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    pids: procs.map((p) => p.child.pid!),
    connected: ready.reduce((a, r) => a + r.connected, 0),
    connectFailed: ready.reduce((a, r) => a + r.connectFailed, 0),
    start: () => {
      for (const p of procs) p.child.send({ type: 'start' });
    },
    stop: async () => {
      const results = await Promise.all(procs.map((p, i) => {
        const r = waitMessage<{ result: ViewerResult }>(p, 'result', 60_000, `viewer process ${i}`);
        p.child.send({ type: 'stop' });
        return r.then((m) => m.result);
      }));
      const connected = results.reduce((a, r) => a + r.connected, 0);
      const windowS = Math.max(...results.map((r) => r.windowMs)) / 1000;
      const fleet = results.reduce((a, r) => a + r.fleetUpdates, 0);
      const series = results.reduce((a, r) => a + r.seriesUpdates, 0);
      return {
        clients: o.clients,
        processes: procs.length,
        connected,
        connectFailed: results.reduce((a, r) => a + r.connectFailed, 0),
        disconnects: results.reduce((a, r) => a + r.disconnects, 0),
        fleetUpdatesPerClientPerSec: connected > 0 ? fleet / connected / windowS : 0,
        seriesUpdatesPerSec: series / windowS,
        deliveredPerSec: (fleet + series) / windowS,
        perProcess: results.map((r) => ({ cpuShare: r.cpuShare, loopDelayP99Ms: r.loopDelayP99Ms })),
        broadcastToClientMs: pcts(results.flatMap((r) => r.b2c)),
        sampleToBroadcastMs: pcts(results.flatMap((r) => r.s2b)),
        sampleToClientMs: pcts(results.flatMap((r) => r.s2c)),
      };
    },
    close: stopAll,
  };
}

export interface LiveWindow {
  viewers: ViewersStats;
  cpu: CpuWindow;
  /**
   * Server histogram over the window, ms (per series bucket emitted: at 1 sample per series per
   * fine step, per sample). `withinLimit`: the share at or below `s2bLimitMs` — exact when that is
   * a bucket bound (LIVE_LATENCY_BOUNDS has flushMs + 50 for 100 and 250), unlike the interpolated p99.
   */
  serverS2b: { p50: number; p99: number; count: number; withinLimit: number };
  /** Frames skipped for slow clients over the window (fleetpulse_live_slow_clients_total delta). */
  slowClientMarks: number;
  /** Samples the servers accepted per second over the window (fleetpulse_ingest_samples_total{result="accepted"}). */
  acceptedPerSec: number;
}

/** Scrape, run a window of `seconds` with the viewers measuring, scrape again; `s2bLimitMs` should be a bucket bound (flushMs + 50). */
export async function liveWindow(adminUrl: string, viewers: { start(): void; stop(): Promise<ViewersStats> }, meter: CpuMeter, seconds: number, s2bLimitMs: number): Promise<LiveWindow> {
  const before = await scrapeMetrics(adminUrl);
  viewers.start();
  meter.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = meter.stop();
  const stats = await viewers.stop();
  const after = await scrapeMetrics(adminUrl);
  const accepted = { result: 'accepted' };
  const name = 'fleetpulse_live_broadcast_latency_seconds';
  const h: Histogram = histogramDelta(readHistogram(after, name), readHistogram(before, name));
  return {
    viewers: stats,
    cpu,
    serverS2b: { p50: histogramQuantile(h, 0.5) * 1000, p99: histogramQuantile(h, 0.99) * 1000, count: h.count, withinLimit: shareAtOrBelow(h, s2bLimitMs / 1000) },
    slowClientMarks: metricTotal(after, 'fleetpulse_live_slow_clients_total') - metricTotal(before, 'fleetpulse_live_slow_clients_total'),
    acceptedPerSec: (metricTotal(after, 'fleetpulse_ingest_samples_total', accepted) - metricTotal(before, 'fleetpulse_ingest_samples_total', accepted)) / (cpu.wallMs / 1000),
  };
}

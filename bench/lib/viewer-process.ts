/**
 * A child process holding many Socket.IO dashboard clients (the viewers of bench/viewers and
 * bench/target); driven by bench/lib/viewers.ts over IPC:
 *   parent → {type:'start'} | {type:'stop'} | {type:'exit'};  child → {type:'ready'} | {type:'result'}.
 * argv[2] is the JSON ViewerConfig. Every `update` is timed on receipt: the clock is the same
 * machine's as the server's, so `Date.now() − update.at` is broadcast-to-client latency and
 * `update.at − update.recv[0]` the age of the oldest sample in the update when it was emitted.
 * Each client decodes of an update only the fields measured (light-decoder.ts). Values are kept
 * in bounded reservoirs; this process's CPU and event-loop delay are reported so the bench can
 * tell whether the clients, not the server, were the bottleneck.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { io as connect, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, LiveUpdate, ServerToClientEvents } from '../../node/protocol/events.js';
import { pool } from '../../node/testing/load.js';
import { lightParser, type LightUpdate } from './light-decoder.js';

export interface ViewerConfig {
  url: string;
  clients: number;
  /** Index of this process's first client (client i subscribes by its global index). */
  first: number;
  /** Every client subscribes to this metric's fleet room. */
  fleetMetric: string;
  /** Client i also subscribes to the series room of `seriesSources[i % len]` when i % seriesEvery === 0 (0 = none). */
  seriesEvery: number;
  seriesSources: string[];
  seriesMetric: string;
}

export interface ViewerResult {
  clients: number;
  connected: number;
  connectFailed: number;
  disconnects: number;
  /** Updates received in the window (all clients), by kind. */
  fleetUpdates: number;
  seriesUpdates: number;
  summaries: number;
  windowMs: number;
  cpuShare: number;
  loopDelayP99Ms: number;
  /** Reservoir samples (ms) of the window. */
  b2c: number[];
  s2b: number[];
  s2c: number[];
}

const RESERVOIR = 30_000;
const CONNECT_CONCURRENCY = 50;

class Reservoir {
  readonly values: number[] = [];
  #seen = 0;
  add(v: number): void {
    this.#seen++;
    if (this.values.length < RESERVOIR) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.#seen);
      if (j < RESERVOIR) this.values[j] = v;
    }
  }
}

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ViewerConfig;
  const clients: Client[] = [];
  let measuring = false;
  let b2c = new Reservoir();
  let s2b = new Reservoir();
  let s2c = new Reservoir();
  let counts = { fleet: 0, series: 0, summaries: 0, disconnects: 0 };
  let connectFailed = 0;

  // Updates arrive as LightUpdate (light-decoder.ts: only the measured fields are decoded).
  const onUpdate = (u: LiveUpdate | LightUpdate): void => {
    if (!measuring) return;
    const now = Date.now();
    if (u.k === 'fleet') counts.fleet++;
    else counts.series++;
    b2c.add(now - u.at);
    s2b.add(u.at - u.recv[0]);
    s2c.add(now - u.recv[0]);
  };

  // Two phases: every client connects, then every client subscribes. Subscribed clients receive
  // the fleet's updates, so connecting the rest while they do (one phase) starved the handshakes of
  // a 5,000-client level on 2 cores until the ready deadline passed.
  const connected: Array<{ c: Client; i: number }> = [];
  await pool(cfg.clients, CONNECT_CONCURRENCY, async (k) => {
    const c: Client = connect(`${cfg.url}/live`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 60_000, parser: lightParser });
    try {
      await new Promise<void>((resolve, reject) => {
        c.once('connect', resolve);
        c.once('connect_error', reject);
      });
      connected.push({ c, i: cfg.first + k });
    } catch {
      connectFailed++;
      c.disconnect();
    }
  });
  await pool(connected.length, CONNECT_CONCURRENCY, async (k) => {
    const { c, i } = connected[k]!;
    try {
      const fleet = await c.timeout(60_000).emitWithAck('subscribe', { metric: cfg.fleetMetric });
      if (!fleet.ok) throw new Error(fleet.error.message);
      if (cfg.seriesEvery > 0 && i % cfg.seriesEvery === 0 && cfg.seriesSources.length > 0) {
        const s = await c.timeout(60_000).emitWithAck('subscribe', { metric: cfg.seriesMetric, source: cfg.seriesSources[(i / cfg.seriesEvery) % cfg.seriesSources.length]! });
        if (!s.ok) throw new Error(s.error.message);
      }
      c.on('update', onUpdate);
      c.on('summary', () => {
        if (measuring) counts.summaries++;
      });
      c.on('disconnect', () => counts.disconnects++);
      clients.push(c);
    } catch {
      connectFailed++;
      c.disconnect();
    }
  });
  process.send!({ type: 'ready', connected: clients.length, connectFailed });

  const loop = monitorEventLoopDelay({ resolution: 10 });
  let cpu0 = process.cpuUsage();
  let t0 = 0;
  process.on('message', (m: { type: string }) => {
    if (m.type === 'start') {
      b2c = new Reservoir();
      s2b = new Reservoir();
      s2c = new Reservoir();
      counts = { fleet: 0, series: 0, summaries: 0, disconnects: 0 };
      loop.reset();
      loop.enable();
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      measuring = true;
    } else if (m.type === 'stop') {
      measuring = false;
      loop.disable();
      const windowMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const r: ViewerResult = {
        clients: cfg.clients, connected: clients.length, connectFailed, disconnects: counts.disconnects,
        fleetUpdates: counts.fleet, seriesUpdates: counts.series, summaries: counts.summaries, windowMs,
        cpuShare: (cpu.user + cpu.system) / 1000 / windowMs, loopDelayP99Ms: loop.percentile(99) / 1e6,
        b2c: b2c.values, s2b: s2b.values, s2c: s2c.values,
      };
      process.send!({ type: 'result', result: r });
    } else if (m.type === 'exit') {
      for (const c of clients) c.disconnect();
      process.disconnect();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
  // The parent died without saying goodbye: do not linger.
  process.on('disconnect', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`viewer-process: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

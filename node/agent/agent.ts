/**
 * The simulated fleet: N hosts × M metrics at R ticks/s each, over push or stream. It is the demo
 * fleet of `fleetpulse start --demo` and the load generator of bench/.
 *
 * Scheduling: host i ticks at t0 + (k·N + i)/(N·R), so ticks are spread evenly over each period
 * instead of arriving as one burst per second. A generator that falls more than 2 s behind skips
 * ahead and counts the skipped samples as dropped (the machine cannot keep up; say so, don't lie
 * about timestamps). R = 0 means closed loop: each host sends as fast as its acks come back.
 */
import http from 'node:http';
import https from 'node:https';
import { SimulatedHost, hostName, metricCatalogue } from './encode.js';
import { AgentStats, ConnectGate, type Lane } from './lane.js';
import type { LatencySummary } from './latency.js';
import { PushLane } from './push-lane.js';
import { StreamLane } from './stream-lane.js';

export const AgentTransport = { Push: 'push', Stream: 'stream' } as const;
export type AgentTransport = (typeof AgentTransport)[keyof typeof AgentTransport];

export interface AgentOptions {
  /** FleetPulse base URL (http://host:port), or the full ingest/stream URL. */
  url: string;
  transport: AgentTransport;
  sources: number;
  metrics: number;
  /** Ticks per second per host; 0 = as fast as acks allow (closed loop). */
  rate: number;
  /** Samples per message/request (whole ticks; default: one tick). */
  batch?: number;
  /** Unacknowledged samples allowed per host (default: 4 batches, at least 1,000). */
  windowSamples?: number;
  /** Ingest key (Authorization: Bearer). */
  key?: string | undefined;
  /** Host name prefix; default role-based names (web-0001, db-0003, …). */
  prefix?: string | undefined;
  /** Length of the simulated day (the diurnal CPU/traffic wave), ms. @default 86400000 */
  dayMs?: number;
  /** Statistics restart after this many seconds (bench warm-up). */
  warmupS?: number;
  /** Progress every second: a callback, or none. */
  onProgress?: (p: AgentProgress) => void;
  /** Run id in stream ids (default: random per run). */
  runId?: string;
}

export interface AgentProgress {
  elapsedS: number;
  ackedPerSec: number;
  sentSamples: number;
  ackedSamples: number;
  errors: number;
  reconnects: number;
  dropped: number;
  open: number;
  latency: LatencySummary;
}

export interface AgentSummary {
  transport: AgentTransport;
  url: string;
  sources: number;
  metrics: number;
  rate: number;
  batch: number;
  /** Measured seconds (after warm-up, until stop). */
  durationS: number;
  sentSamples: number;
  ackedSamples: number;
  ackedMessages: number;
  samplesPerSec: number;
  messagesPerSec: number;
  /** Send → ack, ms. */
  ackLatencyMs: LatencySummary;
  errors: number;
  errorCodes: Record<string, number>;
  reconnects: number;
  dropped: number;
  /** Sent but not acknowledged when the agent gave up draining. */
  unackedAtExit: number;
  fatal: string | null;
  /** CPU time of the agent process during the run (user + system), s: a generator's own cost. */
  cpuSeconds: number;
}

const TICK_MS = 10;
const MAX_BEHIND_MS = 2000;
const DRAIN_TIMEOUT_MS = 10_000;
/** Stream handshakes in progress at once (see ConnectGate). */
const CONNECT_CONCURRENCY = 100;

export class Agent {
  readonly stats = new AgentStats();
  readonly #o: Required<Omit<AgentOptions, 'key' | 'prefix' | 'onProgress'>> & Pick<AgentOptions, 'key' | 'prefix' | 'onProgress'>;
  readonly #hosts: SimulatedHost[] = [];
  readonly #lanes: Lane[] = [];
  readonly #laneIndex = new Map<Lane, number>();
  readonly #httpAgent: http.Agent | undefined;
  readonly #frags: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #progressTimer: NodeJS.Timeout | undefined;
  #warmTimer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #emitted = 0;
  #measureFrom = 0;
  #measureAcked = 0;
  #measureMessages = 0;
  #lastProgress = { t: 0, acked: 0 };
  #stoppedAt = 0;
  #stopping = false;
  #warm = false;
  #cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };
  #lastLinger = 0;

  constructor(opts: AgentOptions) {
    const batch = opts.batch ?? opts.metrics;
    this.#o = {
      ...opts,
      batch,
      windowSamples: opts.windowSamples ?? Math.max(1000, 4 * batch),
      dayMs: opts.dayMs ?? 86_400_000,
      warmupS: opts.warmupS ?? 0,
      runId: opts.runId ?? `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`,
    };
    const url = endpoint(opts.url, opts.transport);
    if (opts.transport === 'push') {
      const mod = url.startsWith('https:') ? https : http;
      this.#httpAgent = new mod.Agent({ keepAlive: true, maxSockets: Math.min(opts.sources, 256) });
    }
    const catalogue = metricCatalogue(opts.metrics);
    const maxPendingSamples = Math.max(10 * batch, opts.rate > 0 ? opts.rate * opts.metrics * 60 : 0, 10_000);
    const gate = new ConnectGate(CONNECT_CONCURRENCY);
    const onRoom = this.#o.rate === 0 ? (lane: Lane): void => this.#refill(lane) : undefined;
    for (let i = 0; i < opts.sources; i++) {
      const source = hostName(i, opts.sources, opts.prefix);
      this.#hosts.push(new SimulatedHost(source, i, catalogue, this.#o.dayMs));
      const common = { source, batch, windowSamples: this.#o.windowSamples, maxPendingSamples, stats: this.stats, ...(onRoom === undefined ? {} : { onRoom }) };
      this.#lanes.push(
        opts.transport === 'stream'
          ? new StreamLane({ ...common, url, streamId: `${source}.${this.#o.runId}`, key: opts.key, gate })
          : new PushLane({ ...common, url, key: opts.key, agent: this.#httpAgent! }),
      );
      this.#laneIndex.set(this.#lanes[i]!, i);
    }
  }

  get lanes(): readonly Lane[] {
    return this.#lanes;
  }

  start(): void {
    this.#cpu0 = process.cpuUsage();
    this.#t0 = Date.now();
    this.#measureFrom = this.#t0 + this.#o.warmupS * 1000;
    this.#lastProgress = { t: this.#t0, acked: 0 };
    if (this.#o.rate > 0) {
      this.#timer = setInterval(() => this.#schedule(), TICK_MS);
    } else {
      for (const lane of this.#lanes) this.#refill(lane);
      this.#timer = setInterval(() => {
        for (const lane of this.#lanes) this.#refill(lane);
      }, 50);
    }
    this.#progressTimer = setInterval(() => this.#progress(), 1000);
    this.#progressTimer.unref();
    // End the warm-up on time: left to the 1 s progress tick, the snapshot came up to a second
    // late (a short bench window then under-counted, or counted the warm-up when no tick came).
    if (this.#o.warmupS > 0) this.#warmTimer = setTimeout(() => this.#endWarmup(), this.#o.warmupS * 1000);
  }

  /** End the warm-up now (it ends by itself after warmupS): rates and latencies count from here. */
  endWarmup(): void {
    this.#endWarmup();
  }

  #endWarmup(): void {
    if (this.#warm || this.#stopping) return;
    this.#warm = true;
    this.#measureFrom = Date.now();
    this.#measureAcked = this.stats.ackedSamples;
    this.#measureMessages = this.stats.ackedMessages;
    this.stats.latency.reset();
  }

  /** Open-loop ticks that are due, host after host, spread over each period. */
  #schedule(): void {
    const now = Date.now();
    const n = this.#hosts.length;
    const perMs = (n * this.#o.rate) / 1000;
    const due = Math.floor((now - this.#t0) * perMs);
    if (due - this.#emitted > MAX_BEHIND_MS * perMs) {
      const skip = due - this.#emitted - n;
      this.stats.dropped += skip * this.#o.metrics;
      this.#emitted += skip;
    }
    for (; this.#emitted < due; this.#emitted++) {
      const k = this.#emitted;
      const i = k % n;
      this.#tickHost(i, Math.round(this.#t0 + k / perMs), now);
    }
    if (now - this.#lastLinger >= 100) {
      this.#lastLinger = now;
      for (const lane of this.#lanes) lane.linger(now);
    }
  }

  #tickHost(i: number, ts: number, now: number): void {
    const frags = this.#frags;
    frags.length = 0;
    const samples = this.#hosts[i]!.tick(ts, frags);
    this.#lanes[i]!.offer(frags, samples, now);
  }

  /** Closed loop: fill the lane's window with fresh ticks (ts = now). */
  #refill(lane: Lane): void {
    if (this.#stopping) return;
    const i = this.#laneIndex.get(lane)!;
    let guard = 0;
    while (lane.hasRoom && guard++ < 1000) this.#tickHost(i, Date.now(), Date.now());
  }

  #progress(): void {
    const now = Date.now();
    if (!this.#warm && this.#o.warmupS > 0 && now >= this.#measureFrom) this.#endWarmup();
    const s = this.stats;
    const dt = (now - this.#lastProgress.t) / 1000;
    const p: AgentProgress = {
      elapsedS: Math.round((now - this.#t0) / 1000),
      ackedPerSec: dt > 0 ? (s.ackedSamples - this.#lastProgress.acked) / dt : 0,
      sentSamples: s.sentSamples, ackedSamples: s.ackedSamples, errors: s.errors, reconnects: s.reconnects, dropped: s.dropped, open: s.open,
      latency: s.latency.summary(),
    };
    this.#lastProgress = { t: now, acked: s.ackedSamples };
    this.#o.onProgress?.(p);
  }

  /** Stop generating, send what is buffered, wait (bounded) for its acks, close. */
  async stop(drainTimeoutMs = DRAIN_TIMEOUT_MS): Promise<AgentSummary> {
    if (this.#stopping) throw new Error('BUG: Agent.stop called twice');
    this.#stopping = true;
    this.#stoppedAt = Date.now();
    clearTimeout(this.#warmTimer);
    // Stopped inside the warm-up: nothing was measured (not everything since the start).
    const measured = this.#o.warmupS === 0 || this.#warm;
    const measuredAcked = measured ? this.stats.ackedSamples - this.#measureAcked : 0;
    const measuredMessages = measured ? this.stats.ackedMessages - this.#measureMessages : 0;
    const cpu = process.cpuUsage(this.#cpu0);
    clearInterval(this.#timer);
    clearInterval(this.#progressTimer);
    for (const lane of this.#lanes) lane.flush();
    const deadline = Date.now() + drainTimeoutMs;
    while (Date.now() < deadline && this.stats.fatal === undefined && !this.#lanes.every((l) => l.idle)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    let unacked = 0;
    for (const lane of this.#lanes) {
      unacked += lane.inFlightSamples;
      lane.abandon();
    }
    await Promise.all(this.#lanes.map((l) => l.close()));
    this.#httpAgent?.destroy();
    const from = Math.max(this.#t0, this.#measureFrom);
    const durationS = Math.max(0.001, (this.#stoppedAt - from) / 1000);
    const s = this.stats;
    return {
      transport: this.#o.transport, url: endpoint(this.#o.url, this.#o.transport), sources: this.#hosts.length, metrics: this.#o.metrics, rate: this.#o.rate, batch: this.#o.batch,
      durationS: Math.round(durationS * 100) / 100,
      sentSamples: s.sentSamples, ackedSamples: s.ackedSamples, ackedMessages: s.ackedMessages,
      samplesPerSec: Math.round(measuredAcked / durationS), messagesPerSec: Math.round(measuredMessages / durationS),
      ackLatencyMs: s.latency.summary(), errors: s.errors, errorCodes: Object.fromEntries(s.errorCodes), reconnects: s.reconnects,
      dropped: s.dropped, unackedAtExit: unacked, fatal: s.fatal ?? null, cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    };
  }
}

/** Base URL → the transport's endpoint (a URL with a path is taken as is, scheme adjusted). */
export function endpoint(url: string, transport: AgentTransport): string {
  const u = new URL(url);
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = transport === 'stream' ? '/api/v1/stream' : '/api/v1/ingest';
  u.protocol = transport === 'stream' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  return u.href;
}

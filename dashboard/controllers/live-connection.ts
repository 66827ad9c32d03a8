/**
 * The page's one Socket.IO connection to `/live` (websocket transport), shared by every view:
 * subscriptions are reference-counted (two charts of one series share a room), re-sent after a
 * reconnect, and followed by a `resync` so views refill the time they missed over REST. It also
 * measures sample-to-screen latency: each update's oldest ingest time against the time of the
 * next animation frame (the paint), in server time via the clock offset, reported in batches —
 * the latency of the update's longest-waiting sample, so an upper bound for every sample in it
 * (the newest one would leave out the wait for the server's next flush).
 */
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents, LiveCluster, LiveSummary, LiveUpdate, ServerToClientEvents, SubscribeAck, SubscribeRequest,
} from '../../node/protocol/events.js';
import { ClockOffset, LatencyBatch } from '../lib/latency.js';
import { announceAuthRequired, readKey } from '../api.js';

export const ConnectionState = { Connecting: 'connecting', Live: 'live', Reconnecting: 'reconnecting', Offline: 'offline' } as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

type UpdateListener = (u: LiveUpdate) => void;
const REPORT_EVERY_MS = 15_000;

export function roomKey(req: SubscribeRequest): string {
  return req.source === undefined ? `m|${req.metric}` : `s|${req.metric}|${req.source}`;
}

export class LiveConnection extends EventTarget {
  readonly #socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  readonly #rooms = new Map<string, { req: SubscribeRequest; refs: number; listeners: Set<UpdateListener> }>();
  readonly #clock = new ClockOffset();
  readonly #latency = new LatencyBatch(200);
  #state: ConnectionState = ConnectionState.Connecting;
  #everConnected = false;
  #pendingPaint: number[] = [];
  #frameRequested = false;
  #timers: number[] = [];
  lastSummary = new Map<string, LiveSummary>();
  lastCluster: LiveCluster | undefined;
  /** Errors from the server's subscribe acks, for the views to show. */
  lastError = '';

  constructor(url = '/live') {
    super();
    const key = readKey();
    this.#socket = io(url, { transports: ['websocket'], reconnectionDelay: 500, reconnectionDelayMax: 5000, ...(key === undefined ? {} : { auth: { key } }) });
    this.#socket.on('connect', () => void this.#onConnect());
    this.#socket.on('disconnect', () => this.#setState(ConnectionState.Reconnecting));
    this.#socket.on('connect_error', (err: Error & { data?: { code?: unknown } }) => {
      const code = err.data?.code;
      if (code === 'unauthorized' || code === 'forbidden') {
        // Retrying with the same key cannot help: stop and ask for one.
        this.#socket.io.reconnection(false);
        announceAuthRequired({ code, message: err.message });
      }
      this.#setState(this.#everConnected ? ConnectionState.Reconnecting : ConnectionState.Offline);
    });
    this.#socket.on('update', (u) => {
      const r = this.#rooms.get(u.room);
      if (r === undefined) return;
      for (const l of r.listeners) l(u);
      this.#notePaint(u.recv[0]);
    });
    this.#socket.on('summary', (s) => {
      this.lastSummary.set(s.metric, s);
      this.dispatchEvent(new CustomEvent('summary', { detail: s }));
    });
    this.#socket.on('cluster', (c) => {
      this.lastCluster = c;
      this.dispatchEvent(new CustomEvent('cluster', { detail: c }));
    });
    this.#timers.push(window.setInterval(() => this.#report(), REPORT_EVERY_MS));
    this.#timers.push(window.setInterval(() => void this.#syncClock(), 60_000));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get clockOffsetMs(): number {
    return this.#clock.offsetMs;
  }

  #setState(s: ConnectionState): void {
    if (s === this.#state) return;
    this.#state = s;
    this.dispatchEvent(new CustomEvent('state', { detail: s }));
  }

  async #onConnect(): Promise<void> {
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    void this.#syncClock();
    // Re-join every room first, then tell the views to refill what they missed: joining before
    // the REST read makes the two overlap (merged by bucket) instead of leaving a hole.
    await Promise.all([...this.#rooms.values()].map((r) => this.#emitSubscribe(r.req)));
    this.#setState(ConnectionState.Live);
    if (reconnect) this.dispatchEvent(new Event('resync'));
  }

  async #syncClock(): Promise<void> {
    if (!this.#socket.connected) return;
    for (let i = 0; i < 3; i++) {
      const sent = Date.now();
      try {
        const serverNow = await this.#socket.timeout(5000).emitWithAck('time');
        this.#clock.add(sent, serverNow, Date.now());
      } catch {
        return;
      }
    }
  }

  async #emitSubscribe(req: SubscribeRequest): Promise<SubscribeAck | undefined> {
    if (!this.#socket.connected) return undefined;
    try {
      const ack = await this.#socket.timeout(10_000).emitWithAck('subscribe', req);
      if (!ack.ok) this.lastError = ack.error.message;
      return ack;
    } catch {
      return undefined;
    }
  }

  /**
   * Join a room (resolves once the server acknowledged it, or at once while disconnected: the
   * room is joined on connect). Returns the function that leaves it.
   */
  async subscribe(req: SubscribeRequest, listener: UpdateListener): Promise<() => void> {
    const key = roomKey(req);
    let r = this.#rooms.get(key);
    if (r === undefined) {
      r = { req, refs: 0, listeners: new Set() };
      this.#rooms.set(key, r);
    }
    r.refs++;
    r.listeners.add(listener);
    if (r.refs === 1) await this.#emitSubscribe(req);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const cur = this.#rooms.get(key);
      if (cur === undefined) return;
      cur.listeners.delete(listener);
      if (--cur.refs === 0) {
        this.#rooms.delete(key);
        if (this.#socket.connected) this.#socket.emit('unsubscribe', req);
      }
    };
  }

  /** The paint that shows an update happens at the next animation frame. */
  #notePaint(newestIngestMs: number): void {
    this.#pendingPaint.push(newestIngestMs);
    if (this.#frameRequested) return;
    this.#frameRequested = true;
    requestAnimationFrame(() => {
      this.#frameRequested = false;
      if (!this.#clock.known) {
        this.#pendingPaint = [];
        return;
      }
      const paintedServerMs = Date.now() + this.#clock.offsetMs;
      for (const t of this.#pendingPaint) this.#latency.add((paintedServerMs - t) / 1000);
      this.#pendingPaint = [];
    });
  }

  /** Take the sample-to-screen measurements (seconds) gathered since the last report. */
  takeLatency(): number[] {
    return this.#latency.drain();
  }

  #report(): void {
    if (!this.#socket.connected || this.#latency.size === 0) return;
    this.#socket.emit('latency', { s: this.takeLatency() });
  }

  /** For tests and the perf bench: drop the connection and come back (the views must not show a gap). */
  reconnectForTest(): void {
    this.#socket.disconnect();
    this.#setState(ConnectionState.Reconnecting);
    setTimeout(() => this.#socket.connect(), 300);
  }

  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#socket.close();
  }
}

let shared: LiveConnection | undefined;
let users = 0;

/** The page's connection, created on first use and closed when the last user lets go. */
export function acquireConnection(): LiveConnection {
  if (shared === undefined) {
    shared = new LiveConnection();
    // A handle for tests and the perf benches (drop and restore the connection; take the
    // sample-to-screen measurements, which then are not reported); read-only otherwise.
    const conn = shared;
    Object.defineProperty(window, '__fleetpulse', {
      configurable: true,
      value: { reconnect: () => conn.reconnectForTest(), state: () => conn.state, takeLatency: () => conn.takeLatency() },
    });
  }
  users++;
  return shared;
}

export function releaseConnection(): void {
  if (--users > 0 || shared === undefined) return;
  shared.close();
  shared = undefined;
}

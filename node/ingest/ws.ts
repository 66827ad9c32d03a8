/**
 * Stream ingest (DESIGN.md §4 Stream): `GET /api/v1/stream` as a WebSocket. Thin like the push
 * handler: upgrade (auth, limits) → decode each message (stream-decode.ts) → the connection's
 * ordered apply/ack machine (stream-conn.ts) → SampleSink.
 *
 * `ws` runs in noServer mode: the worker routes `upgrade` events by path, so Socket.IO can share
 * the same HTTP server. The handshake is completed synchronously (no async verifyClient), so
 * engine.io's destroyUpgrade timer never sees a silent socket on our path (NOTES.md §4).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { SampleSink } from '../aggregate/aggregator.js';
import type { IngestConfig, StreamConfig } from '../config/schema.js';
import { ErrorCode, FleetPulseError, wsCloseCodeOf } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';
import type { ParseLimits } from './parse.js';
import { Role, type AccessControl } from '../http/auth.js';
import type { SampleBatch } from '../protocol/samples.js';
import type { RateLimiter } from './rate-limit.js';
import { closeReason, StreamConnection } from './stream-conn.js';
import { SampleScanner } from './fast-scan.js';
import { decodeStreamFrame } from './stream-decode.js';
import type { TurnBudget } from './turn-budget.js';
import { IngestStage, ingestStages } from '../observability/stage-clock.js';

export const STREAM_PATH = '/api/v1/stream';

/** Stream ids share the source alphabet; '#' stays free for derived keys (stream-conn.ts). */
const STREAM_ID_RE = /^[A-Za-z0-9._:-]{1,200}$/;

export interface StreamDeps {
  cfg: StreamConfig;
  ingest: IngestConfig;
  /** Oldest accepted sample age (the coarse retention), ms. */
  maxAgeMs: number;
  sink: SampleSink;
  store: Pick<StateStore, 'streamSeq' | 'setStreamSeq'>;
  metrics: WorkerMetrics;
  log: Logger;
  /** This worker's slot, sent as `X-FleetPulse-Worker` in the handshake (diagnostics, tests). */
  workerId: number;
  /** Keys and Origin (node/http/auth.ts): a refused upgrade is closed 1008. Undefined = open. */
  access?: AccessControl | undefined;
  /** Per-key samples/s (auth.rateLimit): over it, the connection stops reading until the key's bucket refills. */
  limiter?: RateLimiter | undefined;
  /** A message was refused for the series limit (which sources: series-limit-log.ts). */
  onSeriesLimit?: ((batch: SampleBatch) => void) | undefined;
  /** The worker's bound on ingest work per event-loop turn (ingest.turnBudgetMs); undefined = none. */
  turns?: TurnBudget | undefined;
  now?: () => number;
}

/** What every connection shares (built once per server). */
export interface StreamContext {
  cfg: StreamConfig;
  applyTimeoutMs: number;
  sink: SampleSink;
  store: Pick<StateStore, 'streamSeq' | 'setStreamSeq'>;
  metrics: WorkerMetrics;
  /** True once the server drains: paused sockets stay paused. */
  readonly draining: boolean;
  onFatal(conn: StreamConnection, e: FleetPulseError): void;
  onRecordError(e: FleetPulseError): void;
  onLeaseExpired(streamId: string, applied: number): void;
  onSeriesLimit(batch: SampleBatch): void;
}

/** Close codes counted by fleetpulse_stream_closes_total (a fixed label set). */
const COUNTED_CLOSE_CODES = new Set([1000, 1001, 1005, 1006, 1008, 1009, 1011, 1013]);

export class StreamServer {
  readonly #deps: StreamDeps;
  readonly #wss: WebSocketServer;
  readonly #conns = new Set<StreamConnection>();
  /** Connections whose socket closed but that still apply what they received. */
  readonly #finishing = new Set<Promise<void>>();
  readonly #limits: ParseLimits;
  /** The frames' fast path, with its name caches (one per worker's stream server). */
  readonly #scanner = new SampleScanner();
  readonly #ctx: StreamContext;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #now: () => number;
  readonly #turns: TurnBudget | undefined;
  #draining = false;
  #recordErrorLogged = false;

  constructor(deps: StreamDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#turns = deps.turns;
    this.#limits = { maxSamples: deps.ingest.maxSamplesPerRequest, maxTags: deps.ingest.maxTags, maxFutureMs: deps.ingest.maxFutureMs, maxAgeMs: deps.maxAgeMs };
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: deps.cfg.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });
    this.#wss.on('headers', (headers) => headers.push(`X-FleetPulse-Worker: ${deps.workerId}`));
    const log = deps.log;
    const server = this;
    this.#ctx = {
      cfg: deps.cfg,
      applyTimeoutMs: deps.ingest.applyTimeoutMs,
      sink: deps.sink,
      store: deps.store,
      metrics: deps.metrics,
      get draining() {
        return server.#draining;
      },
      onFatal: (conn, e) => {
        if (e.code === ErrorCode.INTERNAL) log.error({ err: e, stream: conn.streamId }, 'stream connection failed');
        else log.debug({ code: e.code, stream: conn.streamId }, 'stream connection closed on error');
      },
      onRecordError: (e) => {
        deps.metrics.streamSeqErrors.inc();
        // Logged once per worker; the counter tells how often.
        if (!this.#recordErrorLogged) {
          this.#recordErrorLogged = true;
          log.warn({ code: e.code, err: e }, 'could not record a stream seq (exactly-once resume may re-apply on reconnect)');
        }
      },
      onSeriesLimit: (batch) => {
        deps.metrics.seriesLimitRejections.inc({ transport: 'ws' });
        deps.onSeriesLimit?.(batch);
      },
      onLeaseExpired: (streamId, applied) => {
        deps.metrics.streamSeqErrors.inc();
        log.warn({ stream: streamId, applied }, 'stream resumed after its previous connection vanished without releasing it: what that one applied without the client seeing its ack may be applied again when re-sent');
      },
    };
    this.#heartbeat = setInterval(() => this.#beat(), deps.cfg.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Open stream connections on this worker. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Take over an `upgrade` whose path is STREAM_PATH. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#draining) {
      rejectUpgrade(socket, 503, 'server shutting down');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req, url));
  }

  #accept(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const m = this.#deps.metrics;
    ws.on('error', () => {}); // 'close' follows every error; 1009 etc. are counted there
    ws.once('close', (code) => m.streamCloses.inc({ code: COUNTED_CLOSE_CODES.has(code) ? String(code) : 'other' }));
    const refuse = (e: FleetPulseError): void => ws.close(wsCloseCodeOf(e), closeReason(e.message));
    let keyId = 'anonymous';
    try {
      if (this.#deps.access !== undefined) keyId = this.#deps.access.check(Role.Ingest, req).id;
    } catch (err) {
      refuse(err instanceof FleetPulseError ? err : new FleetPulseError(ErrorCode.UNAUTHORIZED, 'unauthorized'));
      return;
    }
    if (this.#conns.size >= this.#deps.cfg.maxConnectionsPerWorker) {
      refuse(new FleetPulseError(ErrorCode.OVERLOADED, `too many stream connections on this worker (${this.#deps.cfg.maxConnectionsPerWorker}); retry later`));
      return;
    }
    const streamId = url.searchParams.get('stream') ?? undefined;
    if (streamId !== undefined && !STREAM_ID_RE.test(streamId)) {
      // A policy problem the client must fix, not retry: 1008.
      refuse(new FleetPulseError(ErrorCode.INVALID_QUERY, 'stream id must be 1-200 chars of [A-Za-z0-9._:-]'));
      return;
    }

    const conn = new StreamConnection(ws, streamId, this.#ctx);
    this.#conns.add(conn);
    m.streamConnections.inc();
    ws.on('pong', () => (conn.alive = true));
    const turns = this.#turns;
    ws.on('message', (data, isBinary) => (turns === undefined ? this.#onMessage(conn, data, isBinary, keyId) : this.#onMessageInTurn(turns, conn, data, isBinary, keyId)));
    ws.once('close', () => {
      this.#conns.delete(conn);
      m.streamConnections.dec();
      conn.onSocketClosed();
      const finishing = conn.done.then(() => {
        this.#finishing.delete(finishing);
      });
      this.#finishing.add(finishing);
    });
    void conn.start();
  }

  /**
   * Within this turn's ingest budget: now. Else the message waits for a later slice
   * (turn-budget.ts), in order behind what already waits, and the connection stops reading until
   * it ran.
   */
  #onMessageInTurn(turns: TurnBudget, conn: StreamConnection, data: RawData, isBinary: boolean, keyId: string): void {
    let waited = false;
    const ranNow = turns.run(() => {
      this.#onMessage(conn, data, isBinary, keyId);
      // After the message is admitted: releasing may find the socket closed and nothing else
      // waiting, and finish the connection (stream-conn.ts #checkIdle).
      if (waited) conn.releaseTurn();
    });
    if (ranNow) return;
    waited = true;
    conn.holdForTurn();
    this.#deps.metrics.ingestDeferred.inc({ transport: 'ws' });
  }

  #onMessage(conn: StreamConnection, data: RawData, isBinary: boolean, keyId: string): void {
    const receivedAt = this.#now();
    const t0 = performance.now();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.#deps.metrics.ingestBodyBytes.observe({ transport: 'ws' }, buf.length);
    void isBinary; // binary frames are read as UTF-8 JSON too
    const decodeStarted = performance.now();
    const msg = decodeStreamFrame(buf, this.#scanner, this.#limits, receivedAt);
    ingestStages.add(IngestStage.Decode, decodeStarted);
    if (msg.batch !== undefined) {
      this.#deps.metrics.ingestRequestSamples.observe({ transport: 'ws' }, msg.batch.length);
      // Over the key's rate: the message is kept (it was read), the connection stops reading
      // until the bucket is out of debt, and the client is told once per pause (a notice
      // without seq: nothing was refused).
      const wait = this.#deps.limiter?.consume(keyId, msg.batch.length) ?? 0;
      if (wait > 0) {
        this.#deps.metrics.rateLimitedSamples.inc({ transport: 'ws' }, msg.batch.length);
        conn.throttle(wait);
      }
    }
    conn.onMessage(msg, receivedAt, t0);
  }

  /** Ping everyone; drop peers that did not answer the previous ping. */
  #beat(): void {
    for (const conn of this.#conns) {
      // A socket we paused cannot read its pong: the silence is ours, not the peer's.
      if (conn.pausedForBackpressure) {
        conn.alive = true;
        continue;
      }
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  /**
   * Shutdown: refuse new upgrades, stop reading, apply and ack what was received, close 1001;
   * whatever is left after `graceMs` is terminated.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    clearInterval(this.#heartbeat);
    const all = Promise.all([...this.#conns].map((c) => c.drainAndClose().catch(() => {})));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const c of this.#conns) c.ws.terminate();
    await Promise.race([Promise.all([...this.#finishing]), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    this.#wss.close();
  }
}

/** Answer an upgrade we will not take with a plain HTTP error (the socket is ours to end). */
export function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: { code: status === 404 ? ErrorCode.NOT_FOUND : ErrorCode.OVERLOADED, message } });
  const reason = status === 404 ? 'Not Found' : 'Service Unavailable';
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // A peer that never closes its side must not pin the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}

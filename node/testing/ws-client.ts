/**
 * A small stream-protocol client for tests and benches: opens a WebSocket to /api/v1/stream,
 * records every frame the server sends, and waits (bounded, with a clear message) for an ack,
 * an error frame or the close.
 */
import WebSocket from 'ws';

export interface StreamFrame {
  ack?: number;
  ack_seq?: number;
  ack_ts?: number;
  sent_at?: unknown;
  error?: { code: string; message: string; index?: number; field?: string };
  seq?: number;
}

export interface TestStreamClient {
  ws: WebSocket;
  /** `X-FleetPulse-Worker` of the handshake: the worker slot that took the connection. */
  worker: number;
  frames: StreamFrame[];
  /** Highest `ack` seen so far (0 if none). */
  readonly acked: number;
  send(doc: unknown): void;
  /** Resolve once an ack ≥ n arrived. */
  waitAck(n: number, timeoutMs?: number): Promise<void>;
  /** Resolve once a frame matching `pred` arrived (past frames count). */
  waitFrame(pred: (f: StreamFrame) => boolean, what: string, timeoutMs?: number): Promise<StreamFrame>;
  /** Resolve with the close code (and reason) once the socket closed. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export interface StreamClientOptions {
  stream?: string;
  key?: string;
  headers?: Record<string, string>;
  /** Answer pings (default true); false simulates a dead peer. */
  autoPong?: boolean;
  openTimeoutMs?: number;
}

/** Connect to `baseUrl` (http://host:port) and resolve once the socket is open. */
export async function connectStream(baseUrl: string, opts: StreamClientOptions = {}): Promise<TestStreamClient> {
  const u = new URL('/api/v1/stream', baseUrl.replace(/^http/, 'ws'));
  if (opts.stream !== undefined) u.searchParams.set('stream', opts.stream);
  if (opts.key !== undefined) u.searchParams.set('key', opts.key);
  const ws = new WebSocket(u, { headers: opts.headers ?? {}, autoPong: opts.autoPong ?? true, perMessageDeflate: false });
  const frames: StreamFrame[] = [];
  const listeners = new Set<() => void>();
  let acked = 0;
  let worker = -1;
  let closedInfo: { code: number; reason: string } | undefined;
  ws.on('upgrade', (res) => (worker = Number(res.headers['x-fleetpulse-worker'] ?? -1)));
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as StreamFrame;
    frames.push(f);
    if (typeof f.ack === 'number' && f.ack > acked) acked = f.ack;
    for (const l of listeners) l();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      closedInfo = { code, reason: String(reason) };
      resolve(closedInfo);
      for (const l of listeners) l();
    });
  });
  ws.on('error', () => {}); // 'close' follows
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`stream client: ${u.href} did not open within ${opts.openTimeoutMs ?? 10_000} ms`)), opts.openTimeoutMs ?? 10_000);
    ws.once('open', () => {
      clearTimeout(t);
      resolve();
    });
    ws.once('close', (code) => {
      clearTimeout(t);
      // Closed right after the handshake (auth, limits): still a client the caller can inspect.
      if (worker >= 0) resolve();
      else reject(new Error(`stream client: ${u.href} closed (${code}) before opening`));
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(t);
      reject(new Error(`stream client: ${u.href} answered HTTP ${res.statusCode} instead of upgrading`));
    });
  });

  const waitFrame = (pred: (f: StreamFrame) => boolean, what: string, timeoutMs = 15_000): Promise<StreamFrame> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const f = frames.find(pred);
        if (f !== undefined) return done(undefined, f);
        if (closedInfo !== undefined) done(new Error(`stream client: closed (${closedInfo.code} ${closedInfo.reason}) while waiting for ${what}; frames: ${JSON.stringify(frames.slice(-5))}`));
      };
      const t = setTimeout(() => done(new Error(`stream client: no ${what} within ${timeoutMs} ms; last frames: ${JSON.stringify(frames.slice(-5))}`)), timeoutMs);
      function done(err: Error | undefined, f?: StreamFrame): void {
        clearTimeout(t);
        listeners.delete(check);
        if (err) reject(err);
        else resolve(f!);
      }
      listeners.add(check);
      check();
    });

  return {
    ws,
    get worker() {
      return worker;
    },
    frames,
    get acked() {
      return acked;
    },
    send: (doc) => ws.send(typeof doc === 'string' ? doc : JSON.stringify(doc)),
    waitAck: async (n, timeoutMs) => {
      await waitFrame((f) => typeof f.ack === 'number' && f.ack >= n, `ack ≥ ${n}`, timeoutMs);
    },
    waitFrame,
    closed,
    close: () => ws.close(),
  };
}

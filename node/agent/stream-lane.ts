/**
 * The stream transport of one host, using the exactly-once protocol (DESIGN.md §4 Stream): a
 * named stream (`?stream=<source>.<run id>`) whose messages carry increasing `seq`s. Every sent
 * message is kept until an `{"ack":n}` covers it; after a reconnect (exponential backoff with
 * jitter) all of them are sent again in order, and the server acks, without re-applying, those
 * it already applied. Close codes 1008 (auth/policy) and 1009 (frame too big) are fatal:
 * retrying cannot fix them. The stream id includes a per-run id, so a restarted agent whose seq
 * starts at 1 again is never mistaken for a resend of an earlier run.
 */
import WebSocket from 'ws';
import { backoffMs, Lane, type ConnectGate, type LaneOptions } from './lane.js';

interface Sent {
  seq: number;
  text: string;
  samples: number;
  /** performance.now() of the last (re)send. */
  t: number;
}

export interface StreamLaneOptions extends LaneOptions {
  /** ws(s)://host:port/api/v1/stream */
  url: string;
  streamId: string;
  key: string | undefined;
  /** Shared by the fleet's lanes: how many handshakes may be in progress at once. */
  gate: ConnectGate;
}

const FATAL_CLOSE = new Set([1008, 1009]);

/**
 * An all-zero masking key, which `ws` recognises and skips the XOR for. Masking protects HTTP
 * intermediaries from cache poisoning by hostile *browser* scripts (RFC 6455 §10.3); this agent
 * is not a browser, and masking was a tenth of its CPU as a load generator.
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

export class StreamLane extends Lane {
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #gate: ConnectGate;
  #connecting = false;
  #ws: WebSocket | undefined;
  #open = false;
  #seq = 0;
  #unacked: Sent[] = [];
  #unackedSamples = 0;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closedWaiter: (() => void) | undefined;

  constructor(opts: StreamLaneOptions) {
    super(opts);
    const u = new URL(opts.url);
    u.searchParams.set('stream', opts.streamId);
    this.#url = u.href;
    this.#gate = opts.gate;
    // X-Source lets the balancer send the stream to the source's owner worker (memory mode).
    this.#headers = { 'x-source': opts.source };
    if (opts.key !== undefined) this.#headers.authorization = `Bearer ${opts.key}`;
  }

  get inFlightSamples(): number {
    return this.#unackedSamples;
  }

  /** Open the connection (lazily: on the first message), when the fleet's gate lets us. */
  #connect(): void {
    if (this.#ws !== undefined || this.#connecting || this.stopping || this.stats.fatal !== undefined) return;
    this.#connecting = true;
    this.#gate.acquire((release) => {
      this.#connecting = false;
      if (this.#ws !== undefined || this.stopping || this.stats.fatal !== undefined) {
        release();
        return;
      }
      this.#dial(release);
    });
  }

  #dial(release: () => void): void {
    const ws = new WebSocket(this.#url, { headers: this.#headers, perMessageDeflate: false, handshakeTimeout: 10_000, generateMask: zeroMask });
    this.#ws = ws;
    ws.once('open', release);
    ws.once('close', release);
    ws.on('open', () => {
      this.#open = true;
      this.stats.open++;
      // Resend everything unacknowledged, in order; the server skips what it already applied.
      const now = performance.now();
      for (const m of this.#unacked) {
        m.t = now;
        ws.send(m.text);
      }
      this.pump();
    });
    ws.on('message', (data) => this.#onFrame(String(data)));
    ws.on('error', (err) => this.stats.error(`connect:${connectErrorCode(err)}`));
    ws.on('close', (code, reason) => {
      if (this.#open) this.stats.open--;
      this.#open = false;
      this.#ws = undefined;
      if (FATAL_CLOSE.has(code)) {
        this.stats.fatal ??= `server closed the stream with ${code}: ${String(reason) || 'policy'}`;
        this.stats.error(`close:${code}`);
      } else if (code !== 1000 || !this.stopping) {
        if (code !== 1006 && code !== 1000) this.stats.error(`close:${code}`);
      }
      if (this.#closedWaiter !== undefined) {
        this.#closedWaiter();
        return;
      }
      const needed = !this.stopping || this.#unacked.length > 0 || this.pending.length > 0;
      if (needed && this.stats.fatal === undefined) this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#reconnectTimer !== undefined) return;
    this.stats.reconnects++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, backoffMs(this.#attempt++));
  }

  #onFrame(text: string): void {
    let f: { ack?: unknown; error?: { code?: unknown } };
    try {
      f = JSON.parse(text) as typeof f;
    } catch {
      this.stats.error('bad_frame');
      return;
    }
    if (typeof f.ack === 'number') this.#ackTo(f.ack);
    else if (f.error !== undefined) this.stats.error(typeof f.error.code === 'string' ? f.error.code : 'error');
    // {ack_seq,…} frames answer the original project's messages; this agent does not send those.
  }

  #ackTo(n: number): void {
    const now = performance.now();
    let released = false;
    while (this.#unacked.length > 0 && this.#unacked[0]!.seq <= n) {
      const m = this.#unacked.shift()!;
      this.#unackedSamples -= m.samples;
      this.stats.ackedMessages++;
      this.stats.ackedSamples += m.samples;
      this.stats.latency.record(now - m.t);
      released = true;
    }
    if (released) {
      this.#attempt = 0;
      this.pump();
      if (this.#closedWaiter === undefined) this.opts.onRoom?.(this);
    }
  }

  pump(): void {
    if (!this.#open) {
      if (this.pending.length > 0) this.#connect();
      return;
    }
    const ws = this.#ws!;
    while (this.pending.length > 0 && this.#unackedSamples < this.opts.windowSamples) {
      const m = this.takePending()!;
      const seq = ++this.#seq;
      const text = `{"seq":${seq},"samples":[${m.parts.join(',')}]}`;
      this.#unacked.push({ seq, text, samples: m.samples, t: performance.now() });
      this.#unackedSamples += m.samples;
      this.stats.sentMessages++;
      this.stats.sentSamples += m.samples;
      ws.send(text);
    }
  }

  /** Kill the socket without a close handshake (tests: a connection dying mid-flight). */
  terminate(): void {
    this.#ws?.terminate();
  }

  async close(): Promise<void> {
    this.stopping = true;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const ws = this.#ws;
    if (ws === undefined) return;
    await new Promise<void>((resolve) => {
      this.#closedWaiter = resolve;
      const t = setTimeout(() => ws.terminate(), 1000);
      t.unref();
      ws.close(1000, 'agent stopping');
    });
  }

  /** Sent but unacknowledged messages may have been applied: the agent reports them apart. */
  override abandon(): void {
    super.abandon();
    this.#unacked = [];
    this.#unackedSamples = 0;
  }
}

/**
 * A short code for a WebSocket error, for the agent's error counts: the errno when there is one
 * (ECONNREFUSED…), else what `ws` says went wrong — a refused upgrade (`http-503`) or a handshake
 * the server never answered (`handshake-timeout`) — instead of one opaque `error`.
 */
export function connectErrorCode(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code !== '') return code;
  const status = /Unexpected server response: (\d{3})/.exec(err.message);
  if (status) return `http-${status[1]}`;
  if (/handshake has timed out/i.test(err.message)) return 'handshake-timeout';
  return 'error';
}

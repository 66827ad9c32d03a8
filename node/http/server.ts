/**
 * One listening socket that speaks HTTP/1.1 and HTTP/2 cleartext (prior knowledge) for the same
 * routes. A raw net.Server takes each connection paused, peeks at the first bytes, puts them back
 * (`unshift`) and hands the socket to the http or the http2 server (NOTES.md §2: never switch the
 * socket to flowing mode before that, or h2 breaks). WebSocket upgrades arrive on the http server.
 */
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.js';

/** What both protocols' request objects offer that our handlers use. */
export type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;
export type Handler = (req: AnyRequest, res: AnyResponse) => void;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/** Why a connection was closed for a limit (fleetpulse_http_refused_connections_total). */
export type RefusedReason = 'limit' | 'idle' | 'timeout';

export interface DualServerOptions {
  /** Keep-alive idle timeout; above Caddy's upstream idle timeout (NOTES.md §1.3). */
  keepAliveTimeoutMs: number;
  /**
   * Slow clients (slowloris): all headers within headersTimeoutMs of the request's first byte,
   * the whole request within requestTimeoutMs, else 408. Node checks these every
   * connectionsCheckingInterval (30 s by default, which would let a slow client hold a socket
   * that much longer), so the check runs every min(1 s, headersTimeoutMs/4). In Node 20 they
   * apply to requests in progress only, never to idle keep-alive connections.
   */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** A connection that sends nothing within this long is closed (it never reaches http/http2). Default 10 s. */
  firstByteTimeoutMs?: number;
  /** Most open connections (every protocol, upgraded WebSockets included); past it: 503 and close. Default unlimited. */
  maxConnections?: number;
  log: Logger;
  onConnection?: (protocol: 'h1' | 'h2c', delta: 1 | -1) => void;
  onRefused?: (reason: RefusedReason) => void;
}

const LIMIT_ANSWER = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 92\r\n\r\n{"error":{"code":"overloaded","message":"too many connections on this worker; retry later"}}';

export class DualServer {
  readonly http: http.Server;
  readonly http2: http2.Http2Server;
  readonly #net: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** Connections another worker handed to this one (worker/connection-handoff.ts). */
  readonly #adopted = new WeakSet<net.Socket>();
  readonly #opts: DualServerOptions;
  readonly #log: Logger;
  #closing = false;

  constructor(handler: Handler, opts: DualServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.http = http.createServer({
      keepAliveTimeout: opts.keepAliveTimeoutMs, headersTimeout: opts.headersTimeoutMs, requestTimeout: opts.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(opts.headersTimeoutMs / 4))),
    }, handler);
    this.http2 = http2.createServer({ settings: { maxConcurrentStreams: 100, initialWindowSize: 1 << 20 } }, handler);
    this.http2.on('session', (session) => {
      this.#sessions.add(session);
      // h2c: an idle session is closed like an idle keep-alive socket; each stream must also
      // complete within requestTimeoutMs (below), or a trickled body would hold its slot forever.
      session.setTimeout(opts.keepAliveTimeoutMs, () => session.close());
      opts.onConnection?.('h2c', 1);
      session.on('error', (err) => this.#log.debug({ err }, 'h2 session error'));
      session.on('close', () => {
        this.#sessions.delete(session);
        opts.onConnection?.('h2c', -1);
      });
      if (this.#closing) session.close();
    });
    this.http2.on('stream', (stream: http2.ServerHttp2Stream) => {
      stream.on('error', (err) => this.#log.debug({ err }, 'h2 stream error'));
      const deadline = setTimeout(() => {
        if (stream.destroyed || stream.closed) return;
        opts.onRefused?.('timeout');
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, opts.requestTimeoutMs);
      deadline.unref();
      stream.once('close', () => clearTimeout(deadline));
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      // Node's header/request timeouts arrive here (it would answer 408 itself without a listener).
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timeout) opts.onRefused?.('timeout');
      if (socket.writable && err.code !== 'ECONNRESET') socket.end(timeout ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.#net = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#sniff(socket, opts));
  }

  #sniff(socket: net.Socket, opts: DualServerOptions): void {
    socket.on('error', () => socket.destroy());
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#sockets.size >= (opts.maxConnections ?? Infinity)) {
      // A clear answer instead of a reset: the client (or Caddy) sees 503 + Retry-After.
      opts.onRefused?.('limit');
      socket.end(LIMIT_ANSWER);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // A connection that never speaks never reaches http/http2 and their timeouts: bound it here.
    const silent = setTimeout(() => {
      opts.onRefused?.('idle');
      socket.destroy();
    }, opts.firstByteTimeoutMs ?? 10_000);
    silent.unref();
    const decide = (): void => {
      const head: Buffer | null = socket.read(H2_PREFACE.length) ?? socket.read();
      if (head === null) return; // wait for more bytes
      clearTimeout(silent);
      socket.removeListener('readable', decide);
      socket.removeListener('end', onEnd);
      socket.unshift(head);
      const isH2 = head.length >= 3 && head.subarray(0, Math.min(head.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(head.length, H2_PREFACE.length)));
      if (isH2) this.http2.emit('connection', socket);
      else {
        opts.onConnection?.('h1', 1);
        socket.once('close', () => opts.onConnection?.('h1', -1));
        this.http.emit('connection', socket);
      }
    };
    const onEnd = (): void => {
      clearTimeout(silent);
      socket.destroy();
    };
    socket.on('readable', decide);
    socket.once('end', onEnd);
  }

  /**
   * Serve a connection another worker accepted and handed over, as if it had just connected:
   * `bytes` (what that worker had read) are put back in front of whatever the socket still holds,
   * and the usual sniffing, limits and timeouts apply.
   */
  adopt(socket: net.Socket, bytes: Buffer): void {
    this.#adopted.add(socket);
    if (bytes.length > 0) socket.unshift(bytes);
    this.#sniff(socket, this.#opts);
  }

  /** Whether this connection was handed over by another worker (it is never handed on again). */
  isAdopted(socket: object): boolean {
    return this.#adopted.has(socket as net.Socket);
  }

  /** Listen on `host:port` (0 = any). `exclusive` bypasses node:cluster's shared handle. */
  listen(port: number, host: string, exclusive: boolean): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen({ port, host, exclusive }, () => {
        this.#net.removeListener('error', reject);
        // http.Server starts its header/request timeout checks on 'listening' (we never call its listen()).
        this.http.emit('listening');
        resolve(this.#net.address() as AddressInfo);
      });
    });
  }

  /**
   * Stop accepting, let in-flight requests finish (keep-alive sockets are closed when idle), then
   * resolve; after `graceMs` whatever is left is destroyed.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    this.http.closeIdleConnections();
    for (const s of this.#sessions) s.close();
    const deadline = setTimeout(() => {
      for (const s of this.#sockets) s.destroy();
      for (const s of this.#sessions) s.destroy();
    }, graceMs);
    deadline.unref();
    // Idle keep-alive sockets close now; busy ones close after their response (Connection: close).
    const poll = setInterval(() => this.http.closeIdleConnections(), 50);
    await Promise.race([closed, new Promise((r) => setTimeout(r, graceMs + 100).unref())]);
    clearInterval(poll);
    clearTimeout(deadline);
    this.http.close();
    this.http2.close();
  }

  /** Open connections (every protocol). */
  get connections(): number {
    return this.#sockets.size;
  }

  get closing(): boolean {
    return this.#closing;
  }
}

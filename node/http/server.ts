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

export interface DualServerOptions {
  /** Keep-alive idle timeout; above Caddy's upstream idle timeout (NOTES.md §1.3). */
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  log: Logger;
  onConnection?: (protocol: 'h1' | 'h2c', delta: 1 | -1) => void;
}

export class DualServer {
  readonly http: http.Server;
  readonly http2: http2.Http2Server;
  readonly #net: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #log: Logger;
  #closing = false;

  constructor(handler: Handler, opts: DualServerOptions) {
    this.#log = opts.log;
    this.http = http.createServer({ keepAliveTimeout: opts.keepAliveTimeoutMs, headersTimeout: opts.headersTimeoutMs, requestTimeout: opts.requestTimeoutMs }, handler);
    this.http2 = http2.createServer({ settings: { maxConcurrentStreams: 100, initialWindowSize: 1 << 20 } }, handler);
    this.http2.on('session', (session) => {
      this.#sessions.add(session);
      opts.onConnection?.('h2c', 1);
      session.on('error', (err) => this.#log.debug({ err }, 'h2 session error'));
      session.on('close', () => {
        this.#sessions.delete(session);
        opts.onConnection?.('h2c', -1);
      });
      if (this.#closing) session.close();
    });
    this.http2.on('stream', (stream) => stream.on('error', (err) => this.#log.debug({ err }, 'h2 stream error')));
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.#net = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#sniff(socket, opts));
  }

  #sniff(socket: net.Socket, opts: DualServerOptions): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const decide = (): void => {
      const head: Buffer | null = socket.read(H2_PREFACE.length) ?? socket.read();
      if (head === null) return; // wait for more bytes
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
      socket.destroy();
    };
    socket.on('readable', decide);
    socket.once('end', onEnd);
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

  get closing(): boolean {
    return this.#closing;
  }
}

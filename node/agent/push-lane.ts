/**
 * The push transport of one host: batched `POST /api/v1/ingest`, one request in flight per host
 * over a shared keep-alive pool, with `X-Source` (every request carries one source, so the
 * balancer can route it to the owner worker). 429/503 and connection errors are retried after
 * Retry-After or an exponential backoff; any other 4xx is an error that retrying cannot fix, so
 * that batch is counted as dropped.
 */
import http from 'node:http';
import https from 'node:https';
import { backoffMs, Lane, type LaneOptions, type PendingMessage } from './lane.js';

export interface PushLaneOptions extends LaneOptions {
  /** http(s)://host:port/api/v1/ingest */
  url: string;
  key: string | undefined;
  agent: http.Agent;
}

const REQUEST_TIMEOUT_MS = 30_000;

export class PushLane extends Lane {
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #agent: http.Agent;
  #inflight: PendingMessage | undefined;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #idleWaiter: (() => void) | undefined;

  constructor(opts: PushLaneOptions) {
    super(opts);
    this.#url = new URL(opts.url);
    this.#agent = opts.agent;
    this.#headers = { 'content-type': 'application/json', 'x-source': opts.source };
    if (opts.key !== undefined) this.#headers.authorization = `Bearer ${opts.key}`;
  }

  get inFlightSamples(): number {
    return this.#inflight?.samples ?? 0;
  }

  pump(): void {
    if (this.#inflight !== undefined || this.#retryTimer !== undefined || this.stats.fatal !== undefined) return;
    const m = this.takePending();
    if (m === undefined) return;
    this.#inflight = m;
    this.stats.sentMessages++;
    this.stats.sentSamples += m.samples;
    this.#send(m);
  }

  #send(m: PendingMessage): void {
    const body = `[${m.parts.join(',')}]`;
    const t0 = performance.now();
    const mod = this.#url.protocol === 'https:' ? https : http;
    this.stats.open++;
    let settled = false;
    const done = (status: number, retryAfterS: number | undefined, code: string | undefined): void => {
      if (settled) return;
      settled = true;
      this.stats.open--;
      if (status >= 200 && status < 300) {
        this.stats.ackedMessages++;
        this.stats.ackedSamples += m.samples;
        this.stats.latency.record(performance.now() - t0);
        this.#attempt = 0;
        this.#next();
        return;
      }
      this.stats.error(code ?? `http:${status}`);
      if (status === 401 || status === 403) this.stats.fatal ??= `server answered ${status}: check the key`;
      const retry = status === 0 || status === 429 || status === 503 || status === 502 || status === 504;
      if (!retry || this.stats.fatal !== undefined || (this.stopping && this.#idleWaiter !== undefined)) {
        this.stats.dropped += m.samples;
        this.#next();
        return;
      }
      if (status === 0) this.stats.reconnects++;
      const delay = retryAfterS !== undefined ? retryAfterS * 1000 : backoffMs(this.#attempt++);
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#send(m);
      }, delay);
    };
    const req = mod.request(this.#url, { method: 'POST', agent: this.#agent, headers: { ...this.#headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => {
        const ra = Number(res.headers['retry-after']);
        done(res.statusCode ?? 0, Number.isFinite(ra) && ra > 0 ? ra : undefined, undefined);
      });
      res.on('error', () => done(0, undefined, 'response_error'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => done(0, undefined, `connect:${err.code ?? 'error'}`));
    req.end(body);
  }

  #next(): void {
    this.#inflight = undefined;
    this.pump();
    if (this.#inflight === undefined) {
      this.#idleWaiter?.();
      if (!this.stopping) this.opts.onRoom?.(this);
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      if (this.#inflight !== undefined) {
        this.stats.dropped += this.#inflight.samples;
        this.#inflight = undefined;
      }
    }
    if (this.#inflight === undefined) return;
    await new Promise<void>((resolve) => (this.#idleWaiter = resolve));
  }
}

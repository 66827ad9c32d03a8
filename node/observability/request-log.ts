/**
 * Request ids and request error logs of the public HTTP server.
 *
 * Every request gets an id: the client's (or a proxy's) `X-Request-Id` when it is a sane token,
 * otherwise a fresh UUID. It is returned in the response's `X-Request-Id` header and appears in
 * every log line about that request, so a user's report ("my POST got 500, id …") finds the log.
 *
 * What is logged (never per sample, and not per rejected request at info level):
 * - 5xx that are not retryable (`internal`: a bug) → `error`, with `err`, `code`, `reqId`, route;
 *   at most ERROR_BURST lines per ERROR_WINDOW_MS per process, the rest counted in the next line's
 *   `suppressed` (a bug hit by every request must not flood the log);
 * - retryable 5xx/429 (overloaded, state unavailable, rate limited) → `debug`: their cause is
 *   logged once per state change where it happens (shedding started, redis down);
 * - 4xx (the client's mistake) → `debug`.
 * Counters (fleetpulse_http_requests_total, fleetpulse_ingest_requests_total) count every one.
 */
import { randomUUID } from 'node:crypto';
import type { FleetPulseError } from '../errors.js';
import type { Logger } from './logger.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Ids we pass through: what proxies and tracers generate (UUIDs, hex, base64url, dotted), bounded. */
const SANE_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** The request's id: the incoming header when sane, else a new UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  const v = Array.isArray(header) ? header[0] : header;
  return v !== undefined && SANE_ID.test(v) ? v : randomUUID();
}

const ERROR_BURST = 20;
const ERROR_WINDOW_MS = 10_000;

export class RequestErrorLog {
  readonly #log: Logger;
  readonly #now: () => number;
  #windowStart = 0;
  #inWindow = 0;
  #suppressed = 0;

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /** Log one failed request (see the module comment for levels). */
  failed(reqId: string, route: string, status: number, err: FleetPulseError): void {
    if (status < 500 || err.retryable) {
      if (this.#log.isLevelEnabled('debug')) this.#log.debug({ reqId, route, status, code: err.code, reason: err.message }, 'request rejected');
      return;
    }
    const now = this.#now();
    if (now - this.#windowStart >= ERROR_WINDOW_MS) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= ERROR_BURST) {
      this.#suppressed++;
      return;
    }
    this.#inWindow++;
    const line: Record<string, unknown> = { reqId, route, status, code: err.code, err };
    if (this.#suppressed > 0) {
      line.suppressed = this.#suppressed;
      this.#suppressed = 0;
    }
    this.#log.error(line, 'request failed');
  }
}

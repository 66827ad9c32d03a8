/** JSON responses and the one mapping from errors to HTTP answers. */
import http from 'node:http';
import { toFleetPulseError, type FleetPulseError } from '../errors.js';
import type { AnyRequest, AnyResponse } from './server.js';

export function sendJson(res: AnyResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  if (res.headersSent) return;
  // nosniff: an API answer (errors echo bits of the request) must never be rendered as HTML.
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}

/** The error each failed response was answered with, for the request log (router.ts). */
const sentErrors = new WeakMap<AnyResponse, FleetPulseError>();

/** The error `res` was answered with by sendError(), if any. */
export function errorSentOn(res: AnyResponse): FleetPulseError | undefined {
  return sentErrors.get(res);
}

/** Answer an error as `{"error":{code,message,index?,field?}}` with its status (and Retry-After). */
export function sendError(res: AnyResponse, err: unknown, extraHeaders: Record<string, string> = {}): number {
  const e = toFleetPulseError(err);
  sentErrors.set(res, e);
  const headers: Record<string, string> = { ...extraHeaders };
  if (e.retryAfterS !== undefined && (e.httpStatus === 429 || e.httpStatus === 503)) headers['retry-after'] = String(e.retryAfterS);
  sendJson(res, e.httpStatus, { error: e.toJSON() }, headers);
  return e.httpStatus;
}

/** Most bytes of an unread body drainRejected() reads before an early answer (past it, the answer goes out anyway). */
export const DRAIN_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Before an early error answer (a 413 on a declared length, a 401 on ingest) on a connection the server closes after
 * it — the client sent `Connection: close`, as one-shot clients do — read what is left of the body,
 * up to `maxBytes` and `timeoutMs`. Node closes such a socket right after the answer, and closing with
 * unread input makes the kernel send RST, which can destroy the answer in the client's buffers before it
 * reads it (the client saw EPIPE instead of the 413). Kept connections need nothing: Node reads and
 * discards the rest itself. HTTP/2 closes a stream, never the connection.
 */
export function drainRejected(req: AnyRequest, res: AnyResponse, maxBytes = DRAIN_MAX_BYTES, timeoutMs = 5000): Promise<void> {
  if (req.complete || !(res instanceof http.ServerResponse) || res.shouldKeepAlive) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      resolve();
    };
    const onData = (c: Buffer): void => {
      seen += c.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, timeoutMs);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

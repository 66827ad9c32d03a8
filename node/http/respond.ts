/** JSON responses and the one mapping from errors to HTTP answers. */
import { toFleetPulseError, type FleetPulseError } from '../errors.js';
import type { AnyResponse } from './server.js';

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

/**
 * Read a request body with hard limits: a declared Content-Length over the limit is refused
 * before reading; a chunked body is cut off as soon as it passes the limit; gzip is inflated with
 * an output cap (a gzip bomb stops at maxBytes, it is never fully inflated).
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { AnyRequest } from '../http/server.js';

const gunzipAsync = promisify(gunzip);

export async function readBody(req: AnyRequest, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new FleetPulseError(ErrorCode.BODY_TOO_LARGE, `body of ${declared} bytes is over the limit of ${maxBytes}`);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: FleetPulseError | undefined, body?: Buffer): void => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > maxBytes) {
        finish(new FleetPulseError(ErrorCode.BODY_TOO_LARGE, `body is over the limit of ${maxBytes} bytes`));
        req.resume(); // drain the rest so the answer can be written; the connection is closed after it
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', (err) => finish(new FleetPulseError(ErrorCode.INVALID_JSON, 'request body could not be read', { cause: err })));
    req.once('aborted', () => finish(new FleetPulseError(ErrorCode.INVALID_JSON, 'request aborted by the client')));
  });
}

/** Decode per Content-Encoding: identity or gzip (with an inflation cap). */
export async function decodeBody(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return body;
  if (enc !== 'gzip' && enc !== 'x-gzip') {
    throw new FleetPulseError(ErrorCode.INVALID_ENCODING, `Content-Encoding ${JSON.stringify(enc.slice(0, 32))} is not supported (use gzip or none)`, { httpStatus: 415 });
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new FleetPulseError(ErrorCode.BODY_TOO_LARGE, `gzip body inflates past the limit of ${maxBytes} bytes`, { cause: err });
    }
    throw new FleetPulseError(ErrorCode.INVALID_ENCODING, `gzip body is corrupt or truncated: ${(err as Error).message}`, { cause: err });
  }
}


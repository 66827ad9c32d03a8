/**
 * Read a request body with hard limits: a declared Content-Length over the limit is refused
 * before reading; a chunked body is cut off as soon as it passes the limit; gzip is inflated with
 * an output cap (a gzip bomb stops at maxBytes, it is never fully inflated). A body that arrives
 * in several chunks is joined into a buffer of a BodyPool, which the caller gives back once it has
 * read the body.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { AnyRequest } from '../http/server.js';

const gunzipAsync = promisify(gunzip);

/** Bytes a pool buffer is allocated in (a fleet's bodies are of a few sizes, so one buffer fits most). */
const POOL_GRAIN = 64 * 1024;
/** Free buffers a pool keeps: a body is joined, read and given back within a turn or two, so few are out at once. */
const POOL_FREE_MAX = 4;

/**
 * Buffers that multi-chunk bodies are joined into, reused once their request has read them.
 * Why: Node 20's V8 collects the young generation whenever the ArrayBuffers allocated since the
 * last collection pass 32 MiB (twice its default semi-space, whatever --max-semi-space-size says),
 * and every push body was allocated twice — the chunks Node's HTTP parser copies out, then
 * Buffer.concat. Under bench/peer's load every scavenge of the workers had that reason, about one
 * per 140 requests per worker; each one pauses the worker and promotes whatever the requests in flight hold.
 * Joining into a reused buffer takes the second allocation out (ARCHITECTURE.md, "What the push
 * path costs").
 *
 * A buffer is lent by join() and comes back by release() of the body cut from it; releasing a
 * body that is not on loan (a single-chunk body, one released before) does nothing, so a buffer is
 * never lent twice at once. A body never released is collected as any buffer is.
 */
export class BodyPool {
  readonly #free: Buffer[] = [];
  /** Buffers on loan, by the memory they cut their bodies from. */
  readonly #lent = new WeakMap<ArrayBufferLike, Buffer>();
  readonly #maxBytes: number;

  /** `maxBytes`: the largest body joined in a pool buffer (larger ones get a buffer of their own). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** `chunks` (of `size` bytes in all) joined in a pool buffer, or in a new one past maxBytes. */
  join(chunks: readonly Buffer[], size: number): Buffer {
    if (size === 0 || size > this.#maxBytes) return Buffer.concat(chunks, size);
    let into = this.#free.pop();
    // Too small for this body: let it go (the next bodies are likely as large as this one).
    if (into === undefined || into.length < size) into = Buffer.allocUnsafeSlow(Math.ceil(size / POOL_GRAIN) * POOL_GRAIN);
    let at = 0;
    for (const c of chunks) at += c.copy(into, at);
    this.#lent.set(into.buffer, into);
    return into.subarray(0, size);
  }

  /** Take back the buffer `body` was joined in: nothing may read `body` after this. */
  release(body: Buffer): void {
    const lent = this.#lent.get(body.buffer);
    if (lent === undefined) return;
    this.#lent.delete(body.buffer);
    if (this.#free.length < POOL_FREE_MAX) this.#free.push(lent);
  }

  /** Buffers free to lend (for tests). */
  get free(): number {
    return this.#free.length;
  }
}

/**
 * The body of `req`. With a pool, a body of several chunks is joined in one of its buffers, and the
 * caller must release() it once read; without one, in a buffer of its own.
 */
export async function readBody(req: AnyRequest, maxBytes: number, pool?: BodyPool): Promise<Buffer> {
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
    req.once('end', () => finish(undefined, chunks.length === 1 ? chunks[0]! : pool !== undefined ? pool.join(chunks, size) : Buffer.concat(chunks, size)));
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


import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyPool, readBody } from './body.js';
import { ErrorCode, FleetPulseError } from '../errors.js';

const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** Split `b` into `k` chunks (as a socket would deliver it). */
function chunked(b: Buffer, k: number): Buffer[] {
  const step = Math.ceil(b.length / k);
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; at += step) out.push(Buffer.from(b.subarray(at, at + step)));
  return out;
}

test('BodyPool joins chunks exactly and lends the buffer again once the body is released', () => {
  const pool = new BodyPool(1 << 20);
  const a = bytes(100_000, 1);
  const first = pool.join(chunked(a, 3), a.length);
  assert.deepEqual(first, a);
  pool.release(first);
  assert.equal(pool.free, 1);
  const b = bytes(90_000, 2);
  const second = pool.join(chunked(b, 2), b.length);
  assert.deepEqual(second, b);
  assert.equal(second.buffer, first.buffer, 'the released buffer is reused');
  assert.equal(pool.free, 0);
});

test('BodyPool never lends one buffer twice at once, even when a body is released twice', () => {
  const pool = new BodyPool(1 << 20);
  const x = pool.join(chunked(bytes(70_000, 3), 2), 70_000);
  pool.release(x);
  pool.release(x); // a second release of the same body must not put its buffer back twice
  assert.equal(pool.free, 1);
  const y = pool.join(chunked(bytes(70_000, 4), 2), 70_000);
  const z = pool.join(chunked(bytes(70_000, 5), 2), 70_000);
  assert.notEqual(y.buffer, z.buffer, 'two bodies on loan share no memory');
  assert.deepEqual(y, bytes(70_000, 4));
  assert.deepEqual(z, bytes(70_000, 5));
});

test('BodyPool leaves alone what it did not lend, bodies past its size, and keeps a bounded free list', () => {
  const pool = new BodyPool(100_000);
  pool.release(Buffer.alloc(10)); // not lent by the pool
  assert.equal(pool.free, 0);
  const big = pool.join(chunked(bytes(150_000, 6), 3), 150_000);
  assert.deepEqual(big, bytes(150_000, 6));
  pool.release(big);
  assert.equal(pool.free, 0, 'a body over maxBytes had a buffer of its own');
  const empty = pool.join([], 0);
  assert.equal(empty.length, 0);
  pool.release(empty);
  assert.equal(pool.free, 0);
  const lent = Array.from({ length: 6 }, (_, i) => pool.join(chunked(bytes(5_000, i), 2), 5_000));
  for (const body of lent) pool.release(body);
  assert.equal(pool.free, 4);
  // A body larger than the free buffer it is given gets a new one, and the bytes are still exact.
  const grown = pool.join(chunked(bytes(99_000, 7), 4), 99_000);
  assert.deepEqual(grown, bytes(99_000, 7));
});

async function withServer(handle: (req: IncomingMessage) => Promise<unknown>, run: (port: number) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    handle(req).then(
      (r) => res.end(JSON.stringify(r)),
      (err: unknown) => {
        res.statusCode = 500;
        res.end(err instanceof FleetPulseError ? err.code : String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run((server.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function post(port: number, body: Buffer, headers: Record<string, string | number> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    // Several writes: the server reads the body in several chunks.
    for (const c of chunked(body, 4)) req.write(c);
    req.end();
  });
}

test('readBody with a pool: a body of several chunks arrives intact over HTTP, and its buffer serves the next one', async () => {
  const pool = new BodyPool(1 << 20);
  const seen: ArrayBufferLike[] = [];
  await withServer(async (req) => {
    const body = await readBody(req, 1 << 20, pool);
    seen.push(body.buffer);
    const copy = Buffer.from(body);
    pool.release(body);
    return { length: copy.length, sum: copy.reduce((a, c) => (a + c) % 1_000_003, 0) };
  }, async (port) => {
    for (const seed of [8, 9]) {
      const body = bytes(300_000, seed); // past the parser's 64 KiB reads: several chunks
      const r = await post(port, body, { 'content-length': body.length });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { length: body.length, sum: body.reduce((a, c) => (a + c) % 1_000_003, 0) });
    }
  });
  assert.equal(seen.length, 2);
  assert.equal(seen[0], seen[1], 'the second body was joined in the buffer the first one released');
});

test('readBody refuses a body past the limit, declared or not', async () => {
  const pool = new BodyPool(1 << 20);
  await withServer((req) => readBody(req, 100_000, pool), async (port) => {
    const declared = await post(port, bytes(150_000, 1), { 'content-length': 150_000 });
    assert.equal(declared.text, ErrorCode.BODY_TOO_LARGE);
    const chunkedBody = await post(port, bytes(150_000, 2), { 'transfer-encoding': 'chunked' });
    assert.equal(chunkedBody.text, ErrorCode.BODY_TOO_LARGE);
  });
  assert.equal(pool.free, 0);
});

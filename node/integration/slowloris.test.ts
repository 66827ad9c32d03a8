/**
 * Slow and hostile clients against a real worker (issue 9 §2): hundreds of slowloris connections
 * that trickle header lines, connections that never send a byte, and clients that trickle a body.
 * While they hold their sockets, a normal client still gets every answer; then each slow one is
 * closed by its timeout (408 for the trickled headers and bodies, a plain close for the silent
 * ones), and the counters say so. Past http.maxConnectionsPerWorker a new connection gets 503.
 *
 * An h2c stream whose body never ends is reset once http.requestTimeoutMs passes.
 *
 * This checks what DualServer's comment promises: the http server never calls listen() itself
 * (the sniffing net.Server hands it sockets), so its header/request timeouts only run because
 * DualServer emits 'listening' and sets a short connectionsCheckingInterval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import { startCluster } from '../testing/cluster.js';
import { request } from '../testing/http.js';
import { until } from '../testing/until.js';
import { promTotal } from '../testing/prom.js';

const HEADER_TRICKLERS = 200;
const SILENT = 40;
const BODY_TRICKLERS = 20;
const LIMIT = 300;

interface Slow {
  socket: net.Socket;
  /** What the server sent before closing. */
  received: string;
  closed: boolean;
}

function open(port: number, onConnect: (s: net.Socket) => void, everyMs = 0, tick?: (s: net.Socket) => void): Promise<Slow> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const slow: Slow = { socket, received: '', closed: false };
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d: Buffer) => (slow.received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      slow.closed = true;
      clearInterval(timer);
    });
    socket.once('connect', () => {
      onConnect(socket);
      if (tick !== undefined) timer = setInterval(() => !socket.destroyed && tick(socket), everyMs);
      resolve(slow);
    });
    socket.once('error', reject);
  });
}

test('slowloris: trickled headers, silent and trickled-body connections are timed out while normal clients are served; 503 past the connection limit', { timeout: 120_000 }, async (t) => {
  const c = await startCluster({
    workers: 1,
    env: {
      FLEETPULSE_LOG_LEVEL: 'warn',
      FLEETPULSE_CONFIG: JSON.stringify({ http: { maxConnectionsPerWorker: LIMIT, headersTimeoutMs: 3000, requestTimeoutMs: 6000, firstByteTimeoutMs: 3000 } }),
    },
  });
  t.after(() => c.stop());
  const port = Number(new URL(c.url).port);
  const slow: Slow[] = [];
  t.after(() => {
    for (const s of slow) s.socket.destroy();
  });

  // One header line per second, forever: the classic slowloris.
  let n = 0;
  for (let i = 0; i < HEADER_TRICKLERS; i++) {
    slow.push(await open(port, (s) => s.write(`GET /api/v1/sources HTTP/1.1\r\nHost: x\r\n`), 1000, (s) => s.write(`X-Slow-${n++}: 1\r\n`)));
  }
  const headerSlow = slow.slice();
  for (let i = 0; i < SILENT; i++) slow.push(await open(port, () => {}));
  const silent = slow.slice(HEADER_TRICKLERS);
  const bodySlow: Slow[] = [];
  for (let i = 0; i < BODY_TRICKLERS; i++) {
    const b = await open(port, (s) => s.write('POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n['), 500, (s) => s.write(' '));
    bodySlow.push(b);
    slow.push(b);
  }

  // A normal client is served the whole time the slow ones hold their sockets.
  const started = Date.now();
  let served = 0;
  while (slow.some((s) => !s.closed) && Date.now() - started < 60_000) {
    const push = await request(`${c.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'ok-1', metric: 'm', value: served }), timeoutMs: 10_000 });
    assert.equal(push.status, 202, push.body);
    const q = await request(`${c.url}/api/v1/sources`, { timeoutMs: 10_000 });
    assert.equal(q.status, 200);
    served++;
  }
  t.diagnostic(`normal client served ${served} push+query pairs while the slow connections were open`);
  assert.ok(served >= 3, 'the normal client kept being served');
  await until('every slow connection closed by the server', 30_000, () => slow.every((s) => s.closed));
  for (const s of headerSlow) assert.match(s.received, /^HTTP\/1\.1 408 /, 'trickled headers: 408');
  for (const s of bodySlow) assert.match(s.received, /^HTTP\/1\.1 408 /, 'trickled body: 408');
  for (const s of silent) assert.equal(s.received, '', 'silent: closed without an answer');
  const refused = (reason: string): Promise<number> => promTotal(c.adminUrl, 'fleetpulse_http_refused_connections_total', `reason="${reason}"`);
  assert.ok((await refused('timeout')) >= HEADER_TRICKLERS + BODY_TRICKLERS, 'timeouts counted');
  assert.ok((await refused('idle')) >= SILENT, 'silent connections counted');

  // h2c: a stream whose body never finishes is reset at requestTimeoutMs; the session survives.
  const session = http2.connect(c.url);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const stalled = session.request({ ':method': 'POST', ':path': '/api/v1/ingest', 'content-type': 'application/json' }, { endStream: false });
  stalled.on('error', () => {});
  stalled.write('[');
  const rst = await new Promise<number>((resolve) => stalled.on('close', () => resolve(stalled.rstCode)));
  assert.equal(rst, http2.constants.NGHTTP2_CANCEL, 'the stalled h2 stream was cancelled');
  const fine = await new Promise<number>((resolve, reject) => {
    const r = session.request({ ':path': '/healthz' });
    r.on('response', (h) => resolve(Number(h[':status'])));
    r.on('error', reject);
    r.end();
  });
  assert.equal(fine, 200, 'the same h2 session still answers');

  // Past the connection limit: a clear 503, and the worker still answers once they are gone.
  const flood: Slow[] = [];
  t.after(() => {
    for (const s of flood) s.socket.destroy();
  });
  for (let i = 0; i < LIMIT + 20; i++) flood.push(await open(port, () => {}));
  await until('connections past the limit answered 503', 15_000, () => flood.filter((s) => s.received.startsWith('HTTP/1.1 503')).length >= 20);
  assert.match(flood.find((s) => s.received.startsWith('HTTP/1.1 503'))!.received, /"code":"overloaded"/);
  assert.ok((await refused('limit')) >= 20);
  for (const s of flood) s.socket.destroy();
  await until('served again after the flood', 15_000, async () => (await request(`${c.url}/healthz`).catch(() => undefined))?.status === 200);
});

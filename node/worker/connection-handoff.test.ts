import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { rebuildRequest } from './connection-handoff.js';

test('rebuildRequest: request line and raw headers as received (case, order, repeats), then the bytes read past them', () => {
  const req = { method: 'GET', url: '/api/v1/stream?stream=a.1', httpVersion: '1.1', rawHeaders: ['Host', 'x', 'X-Source', 'web-1', 'Cookie', 'a=1', 'cookie', 'b=2'] };
  assert.equal(rebuildRequest(req, Buffer.alloc(0)).toString('latin1'), 'GET /api/v1/stream?stream=a.1 HTTP/1.1\r\nHost: x\r\nX-Source: web-1\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n');
  assert.equal(rebuildRequest(req, Buffer.from('tail')).toString('latin1').slice(-8), '\r\n\r\ntail');
  // Node reads header bytes as latin1: a byte ≥ 0x80 comes back as the same byte.
  const odd = rebuildRequest({ ...req, rawHeaders: ['X-Note', 'caf\u00e9'] }, Buffer.alloc(0));
  assert.ok(odd.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9])));
});

test('rebuildRequest: what Node parsed, rebuilt, parses to the same request', async (t) => {
  const seen: Array<{ url: string | undefined; raw: string[] }> = [];
  const srv = http.createServer((req, res) => {
    seen.push({ url: req.url, raw: req.rawHeaders });
    res.end('ok');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  const { port } = srv.address() as net.AddressInfo;
  const send = async (bytes: Buffer | string): Promise<void> => {
    const sock = net.connect(port, '127.0.0.1');
    sock.end(bytes);
    sock.resume();
    await once(sock, 'close');
  };
  await send('GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-Source: s-1\r\nConnection: close\r\n\r\n');
  const first = seen[0]!;
  await send(rebuildRequest({ method: 'GET', url: first.url, httpVersion: '1.1', rawHeaders: first.raw }, Buffer.alloc(0)));
  assert.deepEqual(seen[1], first);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createStaticFiles, SECURITY_HEADERS } from './static-files.js';
import { sendError } from './respond.js';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { request } from '../testing/http.js';

async function serve(t: import('node:test').TestContext, root: string): Promise<string> {
  const files = createStaticFiles(root);
  const srv = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (!files(req, res, path)) sendError(res, new FleetPulseError(ErrorCode.NOT_FOUND, `no route for ${path}`));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => srv.close(r)));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

function assertSecurityHeaders(h: http.IncomingHttpHeaders, what: string): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) assert.equal(h[k], v, `${what}: ${k}`);
}

test('every HTML answer carries the security headers: index, deep links, 304, and the "not built" 503', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fp-web-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(root, 'assets', 'app-abc.js'), 'console.log(1)');
  const url = await serve(t, root);
  for (const path of ['/', '/fleet', '/source/web-01', '/cluster', '/index.html', '/assets/app-abc.js']) {
    const a = await request(`${url}${path}`);
    assert.equal(a.status, 200, path);
    assertSecurityHeaders(a.headers, path);
  }
  const etag = String((await request(`${url}/`)).headers.etag);
  const cached = await request(`${url}/`, { headers: { 'if-none-match': etag } });
  assert.equal(cached.status, 304);
  assertSecurityHeaders(cached.headers, '304');
  const missing = await request(`${url}/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['x-content-type-options'], 'nosniff', 'JSON errors are never sniffed as HTML');

  const empty = mkdtempSync(join(tmpdir(), 'fp-web-empty-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const bare = await serve(t, empty);
  const a = await request(`${bare}/`);
  assert.equal(a.status, 503);
  assert.match(a.body, /npm run build/);
  assertSecurityHeaders(a.headers, 'not built');
});

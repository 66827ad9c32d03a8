import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { REDACT } from './logger.js';

test('redaction: key lists, key-carrying headers and ?key= in URLs never reach a log line', () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
  const log = pino({ redact: REDACT }, sink);
  const secret = 'sekrit-key-0a1b2c3d';
  log.info({ auth: { ingestKeys: [secret], readKeys: [secret] } }, 'config');
  log.info({ req: { url: `/api/v1/stream?stream=s1&key=${secret}&x=1`, headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret, cookie: `k=${secret}`, host: 'h' } } }, 'request');
  log.info({ url: `/api/v1/sources?key=${secret}`, headers: { authorization: `Bearer ${secret}` } }, 'bare');
  const out = lines.join('');
  assert.ok(!out.includes(secret), out);
  const req = JSON.parse(lines[1]!) as { req: { url: string; headers: Record<string, string> } };
  assert.equal(req.req.url, '/api/v1/stream?stream=s1&key=[redacted]&x=1', 'the rest of the URL is kept');
  assert.equal(req.req.headers.host, 'h');
  assert.equal(req.req.headers.authorization, '[redacted]');
});

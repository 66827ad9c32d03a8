/**
 * Logging helpers: state changes logged once per transition, request ids honoured or generated,
 * request error levels and their burst limit, and a config summary without secrets. Real pino
 * loggers writing into memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { configSummary } from './config-summary.js';
import { RequestErrorLog, requestIdOf } from './request-log.js';
import { StateChangeLogger } from './state-change.js';
import cfgDefaults from '../../cluster.config.js';

function capture(level = 'debug'): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = pino({ level }, stream);
  return { log, lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('StateChangeLogger logs each transition once, with the previous state and how long it lasted', () => {
  const { log, lines } = capture();
  let now = 1000;
  const redis = new StateChangeLogger<'up' | 'down'>(log, { what: 'redis', initial: 'up', levels: { down: 'warn' }, now: () => now });
  assert.equal(redis.set('up'), false, 'the initial state is not news');
  now = 2000;
  assert.equal(redis.set('down', { err: new Error('ECONNREFUSED') }), true);
  for (let i = 0; i < 100; i++) redis.set('down'); // every failed command reports it: still one line
  now = 4500;
  assert.equal(redis.set('up'), true);
  const l = lines();
  assert.equal(l.length, 2);
  assert.deepEqual([l[0]!.msg, l[0]!.level, l[0]!.previous, l[0]!.previousForMs], ['redis down', 40, 'up', 1000]);
  assert.equal((l[0]!.err as { message: string }).message, 'ECONNREFUSED');
  assert.deepEqual([l[1]!.msg, l[1]!.level, l[1]!.previous, l[1]!.previousForMs], ['redis up', 30, 'down', 2500]);
  assert.equal(redis.changes, 2);
  assert.equal(redis.state, 'up');
});

test('StateChangeLogger without an initial state logs the first observation', () => {
  const { log, lines } = capture();
  const s = new StateChangeLogger<'a' | 'b'>(log, { what: 'thing' });
  s.set('a');
  s.set('a');
  assert.deepEqual(lines().map((l) => [l.msg, l.previous]), [['thing a', undefined]]);
});

test('request ids: a sane incoming X-Request-Id is kept, anything else gets a fresh UUID', () => {
  assert.equal(requestIdOf('abc-123'), 'abc-123');
  assert.equal(requestIdOf(['00f067aa0ba902b7', 'x']), '00f067aa0ba902b7');
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  assert.match(requestIdOf(undefined), uuid);
  assert.match(requestIdOf(''), uuid);
  assert.match(requestIdOf('has space'), uuid);
  assert.match(requestIdOf('line\nbreak'), uuid);
  assert.match(requestIdOf('x'.repeat(129)), uuid);
  assert.notEqual(requestIdOf(undefined), requestIdOf(undefined));
});

test('request errors: bugs at error (rate-limited, suppressed count reported), client and retryable errors at debug', () => {
  const { log, lines } = capture('debug');
  let now = 0;
  const rl = new RequestErrorLog(log, () => now);
  rl.failed('r1', 'ingest', 400, new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'bad'));
  rl.failed('r2', 'ingest', 503, new FleetPulseError(ErrorCode.OVERLOADED, 'busy'));
  for (let i = 0; i < 25; i++) rl.failed(`b${i}`, 'query', 500, new FleetPulseError(ErrorCode.INTERNAL, 'boom'));
  now = 10_000;
  rl.failed('late', 'query', 500, new FleetPulseError(ErrorCode.INTERNAL, 'boom'));
  const l = lines();
  const debug = l.filter((x) => x.level === 20);
  const errors = l.filter((x) => x.level === 50);
  assert.deepEqual(debug.map((x) => [x.reqId, x.code, x.status]), [['r1', 'invalid_sample', 400], ['r2', 'overloaded', 503]]);
  assert.equal(errors.length, 21, '20 per window, then the first of the next window');
  assert.deepEqual([errors[0]!.reqId, errors[0]!.code, errors[0]!.route, errors[0]!.msg], ['b0', 'internal', 'query', 'request failed']);
  assert.equal((errors[0]!.err as { message: string }).message, 'boom');
  assert.equal(errors[20]!.reqId, 'late');
  assert.equal(errors[20]!.suppressed, 5);

  const quiet = capture('info');
  new RequestErrorLog(quiet.log).failed('r', 'ingest', 400, new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'bad'));
  assert.equal(quiet.lines().length, 0, 'client errors are not logged at info');
});

test('config summary: everything but secrets (keys counted, URL credentials masked), whatever the field', () => {
  const cfg = {
    ...cfgDefaults,
    auth: { ingestKeys: ['ingest-secret-1', 'ingest-secret-2'], readKeys: [], rateLimit: 5 },
    state: { ...cfgDefaults.state, mode: 'redis', redisUrl: 'redis://user:hunter2-pass@redis.internal:6380/2' },
    future: { apiToken: 'tok-secret', webhookUrl: 'https://bot:pw-secret@hooks.example/x', nested: [{ password: 'pw2-secret' }] },
  };
  const s = configSummary(cfg);
  const text = JSON.stringify(s);
  for (const secret of ['ingest-secret', 'hunter2', 'tok-secret', 'pw-secret', 'pw2-secret']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  assert.deepEqual(s.auth, { ingestKeys: '2 redacted', readKeys: [], rateLimit: 5 });
  assert.equal((s.state as { redisUrl: string }).redisUrl, 'redis://[redacted]@redis.internal:6380/2');
  assert.equal((s.state as { redisKeyPrefix: string }).redisKeyPrefix, 'fp:', 'a key prefix is not a key');
  assert.equal((s.ingest as { maxBodyBytes: number }).maxBodyBytes, cfgDefaults.ingest.maxBodyBytes);
});

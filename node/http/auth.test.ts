import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessControl, AuthFailure, keyOf, Role } from './auth.js';
import { ErrorCode, FleetPulseError } from '../errors.js';

const INGEST = 'ingest-key-0123456789';
const READ = 'read-key-abcdefghijkl';

function ac(opts: Partial<ConstructorParameters<typeof AccessControl>[0]> = {}, failures: string[] = []): AccessControl {
  return new AccessControl({ ingestKeys: [INGEST], readKeys: [READ], allowedOrigins: [], onFailure: (role, reason) => failures.push(`${role}:${reason}`), ...opts });
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FleetPulseError);
    return `${e.httpStatus} ${e.code}`;
  }
  return 'ok';
}

test('keyOf: Bearer, X-API-Key, ?key= in that order', () => {
  assert.equal(keyOf({ headers: { authorization: 'Bearer abc123xyz' } }), 'abc123xyz');
  assert.equal(keyOf({ headers: { authorization: 'bearer   abc123xyz ' } }), 'abc123xyz');
  assert.equal(keyOf({ headers: { authorization: 'Basic Zm9vOmJhcg==' } }), undefined);
  assert.equal(keyOf({ headers: { 'x-api-key': 'k1k1k1k1' } }), 'k1k1k1k1');
  assert.equal(keyOf({ headers: {}, url: '/api/v1/stream?stream=a&key=q%2Bk' }), 'q+k');
  assert.equal(keyOf({ headers: { authorization: 'Bearer first', 'x-api-key': 'second' }, url: '/?key=third' }), 'first');
  assert.equal(keyOf({ headers: {}, url: '/api/v1/sources?monkey=1' }), undefined);
  assert.equal(keyOf({ headers: {}, url: '/api/v1/sources' }), undefined);
});

test('ingest keys cannot read, read keys cannot ingest; missing and unknown keys are 401', () => {
  const failures: string[] = [];
  const a = ac({}, failures);
  assert.equal(code(() => a.authorize(Role.Ingest, INGEST)), 'ok');
  assert.equal(code(() => a.authorize(Role.Read, READ)), 'ok');
  assert.equal(code(() => a.authorize(Role.Read, INGEST)), `403 ${ErrorCode.FORBIDDEN}`);
  assert.equal(code(() => a.authorize(Role.Ingest, READ)), `403 ${ErrorCode.FORBIDDEN}`);
  assert.equal(code(() => a.authorize(Role.Ingest, undefined)), `401 ${ErrorCode.UNAUTHORIZED}`);
  assert.equal(code(() => a.authorize(Role.Ingest, '')), `401 ${ErrorCode.UNAUTHORIZED}`);
  assert.equal(code(() => a.authorize(Role.Ingest, INGEST + 'x')), `401 ${ErrorCode.UNAUTHORIZED}`);
  assert.equal(code(() => a.authorize(Role.Read, 'short')), `401 ${ErrorCode.UNAUTHORIZED}`);
  assert.deepEqual(failures, ['read:wrong_role', 'ingest:wrong_role', 'ingest:missing', 'ingest:missing', 'ingest:unknown', 'read:unknown']);
});

test('errors never carry the key; principal ids are digests, stable per key', () => {
  const a = ac();
  for (const [role, key] of [[Role.Read, INGEST], [Role.Ingest, 'wrong-key-999999']] as const) {
    try {
      a.authorize(role, key);
      assert.fail('should throw');
    } catch (e) {
      assert.ok(!(e as Error).message.includes(key), (e as Error).message);
      assert.ok(!JSON.stringify((e as FleetPulseError).toJSON()).includes(key));
    }
  }
  const p1 = a.authorize(Role.Ingest, INGEST);
  const p2 = a.authorize(Role.Ingest, INGEST);
  assert.equal(p1.id, p2.id);
  assert.match(p1.id, /^[0-9a-f]{16}$/);
  assert.ok(!INGEST.includes(p1.id));
});

test('a role without keys needs none (anonymous); a key in both lists does both', () => {
  const open = new AccessControl({ ingestKeys: [], readKeys: [READ], allowedOrigins: [] });
  assert.equal(open.requiresKey(Role.Ingest), false);
  assert.equal(open.requiresKey(Role.Read), true);
  assert.deepEqual(open.authorize(Role.Ingest, undefined), { role: Role.Ingest, id: 'anonymous' });
  assert.equal(code(() => open.authorize(Role.Read, undefined)), `401 ${ErrorCode.UNAUTHORIZED}`);
  const both = new AccessControl({ ingestKeys: ['admin-key-1234'], readKeys: ['admin-key-1234'], allowedOrigins: [] });
  assert.equal(code(() => both.authorize(Role.Ingest, 'admin-key-1234')), 'ok');
  assert.equal(code(() => both.authorize(Role.Read, 'admin-key-1234')), 'ok');
});

test('Origin: absent or same-origin passes, listed passes, anything else is 403 (before the key)', () => {
  const failures: string[] = [];
  const a = ac({ allowedOrigins: ['https://dash.example.com/'] }, failures);
  const h = (origin: string | undefined, host = '127.0.0.1:8080') => ({ headers: { host, ...(origin === undefined ? {} : { origin }), authorization: `Bearer ${READ}` } });
  assert.equal(code(() => a.check(Role.Read, h(undefined))), 'ok');
  assert.equal(code(() => a.check(Role.Read, h('http://127.0.0.1:8080'))), 'ok');
  assert.equal(code(() => a.check(Role.Read, h('HTTP://127.0.0.1:8080'))), 'ok');
  assert.equal(code(() => a.check(Role.Read, h('https://metrics.example.com', 'metrics.example.com:443'))), 'ok', 'default port normalised');
  assert.equal(code(() => a.check(Role.Read, h('https://dash.example.com'))), 'ok', 'listed');
  assert.equal(code(() => a.check(Role.Read, h('http://127.0.0.1:9999'))), `403 ${ErrorCode.FORBIDDEN}`);
  assert.equal(code(() => a.check(Role.Read, h('https://evil.example'))), `403 ${ErrorCode.FORBIDDEN}`);
  assert.equal(code(() => a.check(Role.Read, h('null'))), `403 ${ErrorCode.FORBIDDEN}`);
  assert.equal(code(() => a.check(Role.Ingest, { headers: { origin: 'https://evil.example', host: 'x' } })), `403 ${ErrorCode.FORBIDDEN}`, 'origin is checked before the (missing) key');
  assert.equal(code(() => a.check(Role.Read, { headers: { host: 'h:1' } }, READ)), 'ok', 'explicit key (Socket.IO auth)');
  assert.deepEqual(failures.filter((f) => f.endsWith(AuthFailure.Origin)).length, 4);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from './load.js';
import { ErrorCode, FleetPulseError } from '../errors.js';

test('defaults resolve: cluster when caddy is absent, workers from the CPU count, frozen', () => {
  const cfg = loadConfig({ env: {}, caddyAvailable: false });
  assert.equal(cfg.balancer, 'cluster');
  assert.match(cfg.balancerReason, /caddy not found/);
  assert.ok(cfg.workers >= 1);
  assert.equal(cfg.port, 8080);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.ingest));
  assert.equal(loadConfig({ env: {}, caddyAvailable: true }).balancer, 'caddy');
});

test('env twins, FLEETPULSE_CONFIG and flags, in that order of precedence', () => {
  const cfg = loadConfig({
    env: { FLEETPULSE_PORT: '9000', FLEETPULSE_WORKERS: '3', FLEETPULSE_CONFIG: '{"live":{"flushMs":100},"port":7000}', FLEETPULSE_INGEST_KEYS: 'aaaaaaaa, bbbbbbbb' },
    flags: { workers: '2', state: 'redis', redis: 'redis://127.0.0.1:7777' },
    caddyAvailable: false,
  });
  assert.equal(cfg.port, 9000);
  assert.equal(cfg.workers, 2);
  assert.equal(cfg.live.flushMs, 100);
  assert.equal(cfg.state.mode, 'redis');
  assert.deepEqual(cfg.auth.ingestKeys, ['aaaaaaaa', 'bbbbbbbb']);
});

test('every problem is reported in one CONFIG_INVALID', () => {
  assert.throws(
    () => loadConfig({ env: { FLEETPULSE_PORT: 'eighty', FLEETPULSE_STATE: 'disk', FLEETPULSE_CONFIG: '{"ingest":{"maxBodyByte":5}}' }, flags: { workers: '-1' }, caddyAvailable: false }),
    (e: unknown) => {
      assert.ok(e instanceof FleetPulseError);
      assert.equal(e.code, ErrorCode.CONFIG_INVALID);
      for (const needle of ['/port', '/state/mode', '/workers', 'maxBodyByte']) assert.ok(e.message.includes(needle), `${needle} missing in:\n${e.message}`);
      return true;
    },
  );
  assert.throws(() => loadConfig({ env: { FLEETPULSE_CONFIG: '{not json' } }), /not valid JSON/);
  assert.throws(() => loadConfig({ env: { FLEETPULSE_LIVE_FLUSH_MS: '10' } }), /flushMs/);
});

test('a public host without keys refuses to start and says how to set them', () => {
  assert.throws(() => loadConfig({ flags: { host: '0.0.0.0' }, caddyAvailable: false }), /FLEETPULSE_INGEST_KEYS/);
  const ok = loadConfig({ flags: { host: '0.0.0.0' }, env: { FLEETPULSE_INGEST_KEYS: 'k'.repeat(16), FLEETPULSE_READ_KEYS: 'r'.repeat(16) }, caddyAvailable: false });
  assert.equal(ok.host, '0.0.0.0');
});

test('a key file adds ingest and read keys; bad lines and loose permissions are refused without echoing keys', async () => {
  const { mkdtempSync, writeFileSync, chmodSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'fp-keys-'));
  try {
    const file = join(dir, 'keys');
    writeFileSync(file, '# FleetPulse keys\n\ningest ingest-file-key-1\nread   read-file-key-1\n  ingest ingest-file-key-2  \n', { mode: 0o600 });
    chmodSync(file, 0o600);
    const cfg = loadConfig({ env: { FLEETPULSE_KEY_FILE: file, FLEETPULSE_INGEST_KEYS: 'env-ingest-key' }, flags: { host: '0.0.0.0' }, caddyAvailable: false });
    assert.deepEqual(cfg.auth.ingestKeys, ['env-ingest-key', 'ingest-file-key-1', 'ingest-file-key-2']);
    assert.deepEqual(cfg.auth.readKeys, ['read-file-key-1']);

    writeFileSync(file, 'ingest ok-key-123456\nwrite secret-key-zzz\nread bad key with spaces\n');
    chmodSync(file, 0o600);
    assert.throws(() => loadConfig({ env: { FLEETPULSE_KEY_FILE: file }, caddyAvailable: false }), (e: unknown) => {
      assert.ok(e instanceof FleetPulseError && e.code === ErrorCode.CONFIG_INVALID);
      assert.match(e.message, /line 2/);
      assert.match(e.message, /line 3/);
      assert.ok(!e.message.includes('secret-key-zzz'), 'keys are not echoed');
      return true;
    });

    writeFileSync(file, 'read short\n');
    chmodSync(file, 0o600);
    assert.throws(() => loadConfig({ env: { FLEETPULSE_KEY_FILE: file }, caddyAvailable: false }), (e: unknown) => {
      assert.match((e as Error).message, /readKeys\/0/);
      assert.ok(!(e as Error).message.includes('"short"'), 'the schema error does not echo the key');
      return true;
    });

    chmodSync(file, 0o644);
    assert.throws(() => loadConfig({ env: { FLEETPULSE_KEY_FILE: file }, caddyAvailable: false }), /chmod 600/);
    assert.throws(() => loadConfig({ env: { FLEETPULSE_KEY_FILE: join(dir, 'missing') }, caddyAvailable: false }), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a public host needs both ingest and read keys; allowed origins must be origins', () => {
  assert.throws(() => loadConfig({ flags: { host: '0.0.0.0' }, env: { FLEETPULSE_INGEST_KEYS: 'k'.repeat(16) }, caddyAvailable: false }), /no read keys.*FLEETPULSE_READ_KEYS/s);
  assert.throws(() => loadConfig({ flags: { host: '0.0.0.0' }, env: { FLEETPULSE_READ_KEYS: 'k'.repeat(16) }, caddyAvailable: false }), /no ingest keys/);
  const cfg = loadConfig({ env: { FLEETPULSE_ALLOWED_ORIGINS: 'https://dash.example.com, http://localhost:5173' }, caddyAvailable: false });
  assert.deepEqual(cfg.auth.allowedOrigins, ['https://dash.example.com', 'http://localhost:5173']);
  assert.throws(() => loadConfig({ env: { FLEETPULSE_ALLOWED_ORIGINS: 'https://dash.example.com/path' }, caddyAvailable: false }), /allowedOrigins/);
});

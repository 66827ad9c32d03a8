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

/**
 * The README's error-code table and node/errors.ts must agree (fastify's docs-consistency test):
 * every code documented with its HTTP status, no stale rows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultHttpStatus, ErrorCode, FleetPulseError, wsCloseCodeOf } from './errors.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

test('README error table matches ErrorCode and its HTTP statuses', () => {
  const section = readme.split('## Error codes')[1]?.split('\n## ')[0];
  assert.ok(section !== undefined, 'README has an "## Error codes" section');
  const rows = new Map<string, number>();
  for (const m of section.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)) rows.set(m[1]!, Number(m[2]));
  const codes = Object.values(ErrorCode);
  assert.deepEqual([...rows.keys()].sort(), [...codes].sort(), 'documented codes = ErrorCode values');
  for (const c of codes) assert.equal(rows.get(c), defaultHttpStatus[c], `status of ${c}`);
});

test('errors serialise for the wire and survive IPC', () => {
  const e = new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'value must be finite', { index: 3, field: 'value' });
  assert.deepEqual(e.toJSON(), { code: 'invalid_sample', message: 'value must be finite', index: 3, field: 'value' });
  const back = FleetPulseError.fromWire(e.toJSON());
  assert.equal(back.code, ErrorCode.INVALID_SAMPLE);
  assert.equal(back.httpStatus, 400);
  assert.equal(FleetPulseError.fromWire({ code: 'no_such_code', message: 'x' }).code, ErrorCode.INTERNAL);
  const overloaded = new FleetPulseError(ErrorCode.OVERLOADED, 'busy');
  assert.equal(overloaded.retryable, true);
  assert.equal(overloaded.retryAfterS, 1);
  assert.equal(wsCloseCodeOf(overloaded), 1013);
  assert.equal(wsCloseCodeOf(new FleetPulseError(ErrorCode.BODY_TOO_LARGE, 'big')), 1009);
  assert.equal(wsCloseCodeOf(new FleetPulseError(ErrorCode.UNAUTHORIZED, 'no')), 1008);
  assert.equal(wsCloseCodeOf(new FleetPulseError(ErrorCode.INTERNAL, 'bug')), 1011);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectErrorCode } from './stream-lane.js';

test('connectErrorCode: errno first, then what ws reported, else "error"', () => {
  assert.equal(connectErrorCode(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  assert.equal(connectErrorCode(new Error('Unexpected server response: 503')), 'http-503');
  assert.equal(connectErrorCode(new Error('Opening handshake has timed out')), 'handshake-timeout');
  assert.equal(connectErrorCode(new Error('something else')), 'error');
});

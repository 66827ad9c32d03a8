import assert from 'node:assert/strict';
import test from 'node:test';
import { durationFor } from './scenario.js';
import { scenarios } from '../scenarios/index.js';

const named = (name: string) => scenarios.find((s) => s.name === name)!;

test('run length: --duration wins, then --quick (1 s), then the scenario default (soak 600 s, others 10 s)', () => {
  assert.equal(durationFor(named('soak'), { quick: false, durationS: undefined }), 600, '`all` runs the real soak, not 10 s of it');
  assert.equal(durationFor(named('push'), { quick: false, durationS: undefined }), 10);
  assert.equal(durationFor(named('soak'), { quick: true, durationS: undefined }), 1);
  assert.equal(durationFor(named('soak'), { quick: false, durationS: 30 }), 30);
  assert.equal(durationFor(named('peer'), { quick: true, durationS: 0.5 }), 0.5);
});

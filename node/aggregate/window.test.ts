import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketStart, counterRate, parseDurationMs, parseTimeMs, quantileSorted, resolutionFor } from './window.js';
import { FleetPulseError } from '../errors.js';

test('durations and times', () => {
  assert.equal(parseDurationMs('250ms', 'x'), 250);
  assert.equal(parseDurationMs('10s', 'x'), 10_000);
  assert.equal(parseDurationMs('5m', 'x'), 300_000);
  assert.equal(parseDurationMs('6h', 'x'), 21_600_000);
  assert.equal(parseDurationMs('1500', 'x'), 1500);
  for (const bad of ['', '5 m', '-5m', '1y', 'abc', '1.5s']) assert.throws(() => parseDurationMs(bad, 'x'), FleetPulseError);
  assert.equal(parseTimeMs('-5m', 'from', 1_000_000), 700_000);
  assert.equal(parseTimeMs('now', 'to', 42), 42);
  assert.equal(parseTimeMs('1800000000000', 'from', 0), 1_800_000_000_000);
  assert.throws(() => parseTimeMs('yesterday', 'from', 0), FleetPulseError);
});

test('resolution: fine while the fine ring covers the start, coarse beyond', () => {
  const r = { fineStepMs: 1000, fineSpanMs: 600_000, coarseStepMs: 60_000, coarseSpanMs: 21_600_000 };
  const now = 1_800_000_000_500;
  assert.equal(resolutionFor(now - 60_000, now, r).ring, 'fine');
  assert.equal(resolutionFor(now - 599_000, now, r).ring, 'fine');
  assert.equal(resolutionFor(now - 601_000, now, r).ring, 'coarse');
  assert.equal(bucketStart(1_234_567, 1000), 1_234_000);
});

test('quantiles interpolate between closest ranks (type 7)', () => {
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
  assert.equal(quantileSorted([3], 0.99), 3);
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.ok(Math.abs(quantileSorted(hundred, 0.9) - 90.1) < 1e-9);
  assert.ok(Math.abs(quantileSorted(hundred, 0.99) - 99.01) < 1e-9);
  assert.equal(quantileSorted(hundred, 1), 100);
});

test('counter rate handles resets and needs two points', () => {
  assert.equal(counterRate([0], [5]), undefined);
  assert.equal(counterRate([0, 1000, 2000], [10, 20, 30]), 10);
  // reset at t=2000: 20 → 5 counts as +5
  assert.equal(counterRate([0, 1000, 2000], [10, 20, 5]), 7.5);
  assert.equal(counterRate([1000, 1000], [1, 2]), undefined);
});

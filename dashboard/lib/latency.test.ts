import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockOffset, LatencyBatch } from './latency.js';
import { formatBound, formatSeconds, formatValue, histogramQuantile } from './format.js';

test('clock offset: the tightest round trip wins', () => {
  const c = new ClockOffset();
  assert.equal(c.offsetMs, 0);
  c.add(1000, 6000, 1100); // rtt 100 → offset 4950
  c.add(2000, 7005, 2010); // rtt 10 → offset 5000
  c.add(3000, 9000, 3300); // rtt 300: ignored
  assert.equal(c.offsetMs, 5000);
  assert.equal(c.known, true);
});

test('latency batch: bounded, drops bad values, drains', () => {
  let r = 0;
  const b = new LatencyBatch(3, () => (r = (r + 0.37) % 1));
  for (const v of [0.1, -1, Number.NaN, 0.2, 0.3, 0.4, 0.5]) b.add(v);
  assert.equal(b.size, 3);
  const d = b.drain();
  assert.equal(d.length, 3);
  assert.ok(d.every((v) => v >= 0.1 && v <= 0.5));
  assert.equal(b.size, 0);
});

test('formatting', () => {
  assert.equal(formatValue(12345), '12.3k');
  assert.equal(formatValue(42.25, '%'), '42.3 %');
  assert.equal(formatValue(0.5), '0.5');
  assert.equal(formatValue(null), '–');
  assert.equal(formatValue(2_500_000), '2.5M');
  assert.equal(formatSeconds(0.0421), '42 ms');
  assert.equal(formatSeconds(90), '1.5 min');
  assert.equal(formatBound(-1), '+Inf');
  assert.equal(histogramQuantile([0.1, 1, -1], [5, 4, 1], 0.5), 0.1);
  assert.equal(histogramQuantile([0.1, 1, -1], [5, 4, 1], 0.95), Infinity);
  assert.equal(histogramQuantile([0.1], [0], 0.5), null);
});

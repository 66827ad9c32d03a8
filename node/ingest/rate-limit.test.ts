import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, TokenBucket } from './rate-limit.js';
import { firstSources, SeriesLimitLog } from './series-limit-log.js';

test('token bucket: a second of burst, refill at the rate, refused batches take nothing', () => {
  const b = new TokenBucket(100, 0);
  assert.equal(b.take(60, 0), 0);
  assert.equal(b.take(40, 0), 0);
  assert.equal(b.take(10, 0), 100, 'empty: 10 tokens take 100 ms at 100/s');
  assert.equal(b.take(10, 50), 50, 'half refilled, nothing taken by the refusal');
  assert.equal(b.take(10, 100), 0);
  assert.equal(b.blockedFor(100), 10, 'empty again: one token in 10 ms');
});

test('token bucket: a batch bigger than the burst passes once from full, then the debt is paid first', () => {
  const b = new TokenBucket(100, 0);
  assert.equal(b.take(1000, 0), 0, 'a full bucket lets a big batch through');
  assert.equal(b.blockedFor(0), 9010, '900 tokens of debt + 1 token at 100/s');
  assert.equal(b.take(1, 5000), 4010);
  assert.equal(b.take(1, 9010), 0);
});

test('token bucket: over a long run the granted rate is the limit', () => {
  const b = new TokenBucket(1000, 0);
  let granted = 0;
  for (let t = 0; t <= 10_000; t += 7) if (b.take(50, t) === 0) granted += 50;
  // 10 s at 1000/s plus the initial burst of 1000.
  assert.ok(granted >= 10_000 && granted <= 11_050, `granted ${granted}`);
});

test('consume (streams): always taken, returns the time to be out of debt', () => {
  const b = new TokenBucket(100, 0);
  assert.equal(b.consume(100, 0), 0);
  assert.equal(b.consume(50, 0), 500);
  assert.equal(b.consume(50, 500), 500);
  assert.equal(b.consume(0, 1000), 0);
});

test('rate limiter: one bucket per key id, pruned once full and idle', () => {
  let now = 0;
  const r = new RateLimiter(10, () => now);
  assert.equal(r.take('a', 10), 0);
  assert.ok(r.take('a', 1) > 0, 'a is empty');
  assert.equal(r.take('b', 10), 0, 'b has its own bucket');
  assert.ok(r.blockedFor('a') > 0);
  assert.equal(r.blockedFor('never-seen'), 0);
  assert.equal(r.size, 2);
  now = 120_000;
  r.take('c', 1);
  assert.equal(r.size, 1, 'a and b refilled and were forgotten');
});

test('series-limit log: distinct sources, newest first, bounded per batch and in total', () => {
  const log = new SeriesLimitLog();
  log.record({ length: 3, source: ['a', 'a', 'b'] }, 1);
  log.record({ length: 1, source: ['a'] }, 2);
  let v = log.view();
  assert.equal(v.rejections, 2);
  assert.deepEqual(v.sources.map((s) => [s.source, s.at, s.count]), [['a', 2, 2], ['b', 1, 1]]);
  const many = Array.from({ length: 10_000 }, (_, i) => `s${i}`);
  log.record({ length: many.length, source: many }, 3);
  v = log.view();
  assert.equal(v.sources.length, 7, 'at most 5 new sources from one batch');
  for (let i = 0; i < 10; i++) log.record({ length: 5, source: many.slice(i * 5 + 100, i * 5 + 105) }, 4 + i);
  assert.equal(log.view().sources.length, 20, 'bounded');
  assert.equal(log.view().rejections, 13);
});

test('series-limit log: what a waiting request keeps of its batch (firstSources) records the same as the batch', () => {
  const batches = [
    ['a', 'a', 'b', 'a', 'c', 'b', 'd', 'e', 'f', 'g'],
    Array.from({ length: 1000 }, () => 'one'),
    ['x', 'y', 'x', 'y', 'x', 'z'],
    [],
  ];
  for (const source of batches) {
    const whole = new SeriesLimitLog();
    const kept = new SeriesLimitLog();
    whole.record({ length: source.length, source }, 1);
    const few = firstSources({ length: source.length, source });
    assert.ok(few.length <= 5);
    kept.record(few, 1);
    assert.deepEqual(kept.view(), whole.view());
  }
});

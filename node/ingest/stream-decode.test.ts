import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStreamMessage, legacyTs } from './stream-decode.js';
import type { ParseLimits } from './parse.js';

const NOW = 1_700_000_000_000;
const limits: ParseLimits = { maxSamples: 100, maxTags: 16, maxFutureMs: 300_000, maxAgeMs: 6 * 3600_000 };
const decode = (doc: unknown): ReturnType<typeof decodeStreamMessage> => decodeStreamMessage(typeof doc === 'string' ? doc : JSON.stringify(doc), limits, NOW);

test('every accepted shape decodes, with its seq when it has one', () => {
  const one = decode({ seq: 7, source: 'web-01', metric: 'cpu', value: 12.5 });
  assert.equal(one.seq, 7);
  assert.equal(one.batch?.length, 1);
  assert.equal(one.batch?.metric[0], 'cpu');

  const arr = decode([{ source: 'a', metric: 'cpu', value: 1 }, { source: 'b', metric: 'cpu', value: 2 }]);
  assert.equal(arr.seq, undefined);
  assert.equal(arr.batch?.length, 2);

  const env = decode({ seq: 3, samples: [{ source: 'a', metrics: { cpu: 1, mem: 2 }, unit: '%' }, { source: 'b', metric: 'x', value: 0 }] });
  assert.equal(env.seq, 3);
  assert.equal(env.batch?.length, 3);
  assert.deepEqual(env.batch?.unit, ['%', '%', '']);

  const wide = decode({ seq: 4, source: 'db-1', ts: NOW - 1000, metrics: { cpu: 1, 'disk.used_pct': 2 } });
  assert.equal(wide.seq, 4);
  assert.deepEqual(wide.batch?.ts, [NOW - 1000, NOW - 1000]);
  assert.equal(wide.error, undefined);
});

test('the original project message becomes a wide sample and keeps sent_at for the ack', () => {
  const d = decode({ seq: 12, server_name: 'srv-3', cpu_usage: 53.2, memory_usage: 71, sent_at: NOW - 500 });
  assert.equal(d.error, undefined);
  assert.equal(d.seq, 12);
  assert.deepEqual(d.legacy, { sentAt: NOW - 500 });
  assert.deepEqual(d.batch?.metric, ['cpu_usage', 'memory_usage']);
  assert.deepEqual(d.batch?.source, ['srv-3', 'srv-3']);
  assert.deepEqual(d.batch?.ts, [NOW - 500, NOW - 500]);
  assert.deepEqual(d.batch?.unit, ['%', '%']);
  // seconds with a fraction (Python's time.time()) and ISO strings are read as well
  assert.equal(decode({ seq: 1, server_name: 's', cpu_usage: 1, sent_at: (NOW - 2000) / 1000 }).batch?.ts[0], NOW - 2000);
  assert.equal(legacyTs(new Date(NOW).toISOString(), NOW), NOW);
  assert.equal(legacyTs({}, NOW), undefined);
  // no sent_at: server time
  assert.equal(decode({ seq: 1, server_id: 9, cpu_usage: 1 }).batch?.source[0], '9');
  // a non-number metric field is rejected by name, with the seq kept for the error frame
  const bad = decode({ seq: 5, server_name: 's', cpu_usage: '50' });
  assert.equal(bad.seq, 5);
  assert.equal(bad.batch, undefined);
  assert.equal(bad.error?.code, 'invalid_sample');
  assert.equal(bad.error?.field, 'metrics.cpu_usage');
});

test('bad messages come back as errors, never throws', () => {
  const json = decode('{"seq":1,');
  assert.equal(json.error?.code, 'invalid_json');
  assert.equal(json.seq, undefined);

  const value = decode({ seq: 9, source: 'a', metric: 'cpu', value: 'high' });
  assert.equal(value.error?.code, 'invalid_sample');
  assert.equal(value.error?.field, 'value');
  assert.equal(value.seq, 9);

  for (const seq of [0, -1, 1.5, '3', null, 2 ** 60]) {
    const d = decode({ seq, source: 'a', metric: 'cpu', value: 1 });
    assert.equal(d.error?.code, 'invalid_sample', `seq ${String(seq)}`);
    assert.equal(d.error?.field, 'seq');
    assert.equal(d.seq, undefined);
  }
  const many = decode({ seq: 2, samples: Array.from({ length: 101 }, (_, i) => ({ source: 'a', metric: 'm', value: i })) });
  assert.equal(many.error?.code, 'too_many_samples');
  assert.equal(many.seq, 2);

  for (const text of ['', 'null', '42', '"x"', '[]', '{}', '{"samples":5}', '{"__proto__":{"x":1}}']) {
    const d = decode(text);
    assert.ok(d.error !== undefined, `${text} must be rejected`);
    assert.equal(d.batch, undefined);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, parseNdjson, type ParseLimits } from './parse.js';
import { ErrorCode, FleetPulseError } from '../errors.js';

const NOW = 1_800_000_000_000;
const limits: ParseLimits = { maxSamples: 10_000, maxTags: 16, maxFutureMs: 300_000, maxAgeMs: 6 * 3600_000 };

test('one sample, with defaults filled in', () => {
  const b = parseJson('{"source":"web-01","metric":"cpu","value":12.5}', limits, NOW);
  assert.equal(b.length, 1);
  assert.deepEqual([b.source[0], b.metric[0], b.value[0], b.ts[0], b.unit[0], b.kind[0], b.tags[0]], ['web-01', 'cpu', 12.5, NOW, '', 0, '']);
});

test('array, {samples}, wide form and mixed arrays', () => {
  assert.equal(parseJson('[{"source":"a","metric":"m","value":1},{"source":"b","metric":"m","value":2}]', limits, NOW).length, 2);
  assert.equal(parseJson('{"samples":[{"source":"a","metric":"m","value":1}]}', limits, NOW).length, 1);
  const wide = parseJson(`{"source":"web-01","ts":${NOW - 1000},"metrics":{"cpu":12.5,"mem":40.1}}`, limits, NOW);
  assert.deepEqual(wide.metric, ['cpu', 'mem']);
  assert.deepEqual(wide.ts, [NOW - 1000, NOW - 1000]);
  const mixed = parseJson('[{"source":"a","metrics":{"x":1,"y":2}},{"source":"b","metric":"z","value":3}]', limits, NOW);
  assert.equal(mixed.length, 3);
});

test("the original project's aliases", () => {
  const b = parseJson(`{"server_id":1,"metric_type":"cpu","value":53.2,"unit":"%","sent_at":${NOW - 5}}`, limits, NOW);
  assert.deepEqual([b.source[0], b.metric[0], b.unit[0], b.ts[0]], ['1', 'cpu', '%', NOW - 5]);
  assert.equal(parseJson('{"server_name":"db-1","metric":"m","value":1}', limits, NOW).source[0], 'db-1');
  assert.equal(parseJson('{"host":"h.example","metric":"m","value":1}', limits, NOW).source[0], 'h.example');
});

test('tags are canonicalised (sorted) and counters recognised', () => {
  const b = parseJson('{"source":"a","metric":"m","value":1,"kind":"counter","tags":{"z":"1","a":"2"}}', limits, NOW);
  assert.equal(b.tags[0], 'a=2\u001fz=1');
  assert.equal(b.kind[0], 1);
});

test('NDJSON: one sample per line, blank lines ignored, error index = line', () => {
  const b = parseNdjson('{"source":"a","metric":"m","value":1}\n\n{"source":"b","metric":"m","value":2}\n', limits, NOW);
  assert.equal(b.length, 2);
  assert.throws(() => parseNdjson('{"source":"a","metric":"m","value":1}\n{"source":"b","metric":"m","value":"2"}', limits, NOW), (e: FleetPulseError) => e.index === 1 && e.field === 'value');
  assert.throws(() => parseNdjson('{"source":"a"\n', limits, NOW), (e: FleetPulseError) => e.code === ErrorCode.INVALID_JSON);
});

/** [name, body, code, field?, index?] */
const bad: Array<[string, string, string, (string | undefined)?, number?]> = [
  ['truncated JSON', '{"source":"a","metric":"m","value":1', ErrorCode.INVALID_JSON],
  ['not JSON', 'hello', ErrorCode.INVALID_JSON],
  ['a number', '42', ErrorCode.INVALID_SAMPLE],
  ['null', 'null', ErrorCode.INVALID_SAMPLE],
  ['empty array', '[]', ErrorCode.INVALID_SAMPLE],
  ['array of numbers', '[1,2]', ErrorCode.INVALID_SAMPLE, undefined, 0],
  ['value as string', '{"source":"a","metric":"m","value":"1"}', ErrorCode.INVALID_SAMPLE, 'value', 0],
  ['value missing', '{"source":"a","metric":"m"}', ErrorCode.INVALID_SAMPLE, 'value', 0],
  ['value null', '{"source":"a","metric":"m","value":null}', ErrorCode.INVALID_SAMPLE, 'value', 0],
  ['value huge overflows to Infinity', '{"source":"a","metric":"m","value":1e999}', ErrorCode.INVALID_SAMPLE, 'value', 0],
  ['value bool', '{"source":"a","metric":"m","value":true}', ErrorCode.INVALID_SAMPLE, 'value', 0],
  ['source missing', '{"metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source empty', '{"source":"","metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source with space', '{"source":"a b","metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source with slash', '{"source":"a/b","metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source html', '{"source":"<img src=x>","metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source too long', `{"source":"${'a'.repeat(129)}","metric":"m","value":1}`, ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['source number (not server_id)', '{"source":5,"metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['negative server_id', '{"server_id":-1,"metric":"m","value":1}', ErrorCode.INVALID_SAMPLE, 'source', 0],
  ['metric starting with digit', '{"source":"a","metric":"1cpu","value":1}', ErrorCode.INVALID_SAMPLE, 'metric', 0],
  ['metric too long', `{"source":"a","metric":"${'m'.repeat(129)}","value":1}`, ErrorCode.INVALID_SAMPLE, 'metric', 0],
  ['metric with unicode', '{"source":"a","metric":"cpu\u00e9","value":1}', ErrorCode.INVALID_SAMPLE, 'metric', 0],
  ['metric __proto__', '{"source":"a","metric":"__proto__","value":1}', ErrorCode.INVALID_SAMPLE, 'metric', 0],
  ['ts as string', '{"source":"a","metric":"m","value":1,"ts":"2024-01-01"}', ErrorCode.INVALID_SAMPLE, 'ts', 0],
  ['ts fractional', `{"source":"a","metric":"m","value":1,"ts":${NOW}.5}`, ErrorCode.INVALID_SAMPLE, 'ts', 0],
  ['ts far future', `{"source":"a","metric":"m","value":1,"ts":${NOW + 301_000}}`, ErrorCode.INVALID_SAMPLE, 'ts', 0],
  ['ts older than retention', `{"source":"a","metric":"m","value":1,"ts":${NOW - 7 * 3600_000}}`, ErrorCode.INVALID_SAMPLE, 'ts', 0],
  ['ts in seconds (too old)', `{"source":"a","metric":"m","value":1,"ts":${Math.floor(NOW / 1000)}}`, ErrorCode.INVALID_SAMPLE, 'ts', 0],
  ['sent_at bad', '{"source":"a","metric":"m","value":1,"sent_at":"x"}', ErrorCode.INVALID_SAMPLE, 'sent_at', 0],
  ['unit too long', '{"source":"a","metric":"m","value":1,"unit":"abcdefghijklmnopq"}', ErrorCode.INVALID_SAMPLE, 'unit', 0],
  ['unit number', '{"source":"a","metric":"m","value":1,"unit":5}', ErrorCode.INVALID_SAMPLE, 'unit', 0],
  ['kind unknown', '{"source":"a","metric":"m","value":1,"kind":"histogram"}', ErrorCode.INVALID_SAMPLE, 'kind', 0],
  ['tags array', '{"source":"a","metric":"m","value":1,"tags":["a"]}', ErrorCode.INVALID_SAMPLE, 'tags', 0],
  ['tags nested value', '{"source":"a","metric":"m","value":1,"tags":{"a":{"b":"c"}}}', ErrorCode.INVALID_SAMPLE, 'tags.a', 0],
  ['tags number value', '{"source":"a","metric":"m","value":1,"tags":{"a":1}}', ErrorCode.INVALID_SAMPLE, 'tags.a', 0],
  ['tag value too long', `{"source":"a","metric":"m","value":1,"tags":{"a":"${'v'.repeat(65)}"}}`, ErrorCode.INVALID_SAMPLE, 'tags.a', 0],
  ['tag key __proto__', '{"source":"a","metric":"m","value":1,"tags":{"__proto__":"x"}}', ErrorCode.INVALID_SAMPLE, 'tags.__proto__', 0],
  ['tag key constructor', '{"source":"a","metric":"m","value":1,"tags":{"constructor":"x"}}', ErrorCode.INVALID_SAMPLE, 'tags.constructor', 0],
  ['tag key with space', '{"source":"a","metric":"m","value":1,"tags":{"a b":"x"}}', ErrorCode.INVALID_SAMPLE, 'tags.a b', 0],
  ['too many tags', `{"source":"a","metric":"m","value":1,"tags":{${Array.from({ length: 17 }, (_, i) => `"k${i}":"v"`).join(',')}}}`, ErrorCode.INVALID_SAMPLE, 'tags', 0],
  ['wide: metrics not an object', '{"source":"a","metrics":[1,2]}', ErrorCode.INVALID_SAMPLE, 'metrics', 0],
  ['wide: empty metrics', '{"source":"a","metrics":{}}', ErrorCode.INVALID_SAMPLE, 'metrics', 0],
  ['wide: value string', '{"source":"a","metrics":{"cpu":"1"}}', ErrorCode.INVALID_SAMPLE, 'metrics.cpu', 0],
  ['wide: __proto__ metric', '{"source":"a","metrics":{"__proto__":1}}', ErrorCode.INVALID_SAMPLE, 'metrics.__proto__', 0],
  ['second sample bad → index 1', '[{"source":"a","metric":"m","value":1},{"source":"a","metric":"m","value":"x"}]', ErrorCode.INVALID_SAMPLE, 'value', 1],
  ['samples not array-like', '{"samples":{"a":1}}', ErrorCode.INVALID_SAMPLE],
];

for (const [name, body, code, field, index] of bad) {
  test(`rejects: ${name}`, () => {
    assert.throws(
      () => parseJson(body, limits, NOW),
      (e: unknown) => {
        assert.ok(e instanceof FleetPulseError, 'a FleetPulseError');
        assert.equal(e.code, code);
        if (field !== undefined) assert.equal(e.field, field);
        if (index !== undefined) assert.equal(e.index, index);
        return true;
      },
    );
  });
}

test('too many samples: array and wide forms', () => {
  const small = { ...limits, maxSamples: 3 };
  assert.throws(() => parseJson(JSON.stringify(Array.from({ length: 4 }, () => ({ source: 'a', metric: 'm', value: 1 }))), small, NOW), (e: FleetPulseError) => e.code === ErrorCode.TOO_MANY_SAMPLES);
  assert.throws(() => parseJson('{"source":"a","metrics":{"a":1,"b":2,"c":3,"d":4}}', small, NOW), (e: FleetPulseError) => e.code === ErrorCode.TOO_MANY_SAMPLES);
});

test('prototype pollution attempts leave Object.prototype untouched', () => {
  for (const body of ['{"source":"a","metric":"m","value":1,"__proto__":{"polluted":1}}', '{"source":"a","metric":"m","value":1,"tags":{"__proto__":{"polluted":"1"}}}']) {
    try {
      parseJson(body, limits, NOW);
    } catch {
      // rejected is fine; what matters is the prototype
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

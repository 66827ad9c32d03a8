/**
 * The ingest fast path against the general parser: whatever it accepts must be exactly the batch
 * parse.ts builds from the same bytes (and parse.ts must accept it); whatever it does not know it
 * leaves to parse.ts. Plus: it does take the shapes agents and benches send (a fast path that
 * always gave up would pass the first check and be useless). Random payloads: fast-scan.fuzz.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleScanner } from './fast-scan.js';
import { processNames } from '../protocol/interner.js';
import { decodeStreamFrame, decodeStreamMessage } from './stream-decode.js';
import { SimulatedHost, metricCatalogue } from '../agent/encode.js';
import { fastPathAgrees as agrees, FUZZ_NOW as NOW, fuzzLimits as limits, withoutHints } from '../testing/fuzz.js';

const scanner = new SampleScanner();

test('fast path: the shapes agents and benches send are read without parse.ts, and equal its answer', () => {
  const ts = NOW - 1000;
  const shapes = [
    // bench/state and bench/peer bodies
    JSON.stringify([{ source: 'st-00001', metric: 'm0', value: 12.34, unit: '%' }, { source: 'st-00001', metric: 'm1', value: 0.5, unit: '%' }]),
    JSON.stringify([{ source: 'peer-1', metric: 'cpu', value: 99.99, unit: '%', ts }]),
    // the wide form, as node/agent encodes it (one object per unit/kind group)
    `[${(() => {
      const out: string[] = [];
      new SimulatedHost('web-0001', 0, metricCatalogue(12), 86_400_000).tick(ts, out);
      return out.join(',');
    })()}]`,
    // the wrapper, with a stream seq, and pretty-printed
    JSON.stringify({ seq: 7, samples: [{ source: 'a', metric: 'b', value: -0, kind: 'counter', ts: null, unit: null, tags: {} }] }),
    JSON.stringify({ samples: [{ metric: 'b', value: 1e-7, source: 'a' }] }, null, 2),
    // tags: unsorted, spaced, a duplicate key (JSON.parse: the last wins), the same object twice (the cache)
    JSON.stringify([{ source: 'a', metric: 'b', value: 1, tags: { zone: 'eu', az: '1' } }, { source: 'a', metric: 'b', value: 2, tags: { zone: 'eu', az: '1' } }]),
    '[{"source":"a","metric":"b","value":1,"tags": { "z" : "1" , "a" : "2" , "z" : "3" }}]',
    JSON.stringify({ seq: 1, samples: [{ source: 'h', ts, tags: { role: 'db' }, metrics: { cpu: 1, mem: 2 } }] }),
    // one sample
    JSON.stringify({ source: 'h1', metric: 'temp', value: -273.15, ts, kind: 'gauge' }),
    JSON.stringify({ seq: 3, source: 'h1', metrics: { a: 1, b: 2.5, c: -3 }, ts }),
    // numbers: long, exponents, integers past 2^53
    JSON.stringify([{ source: 'n', metric: 'x', value: 0.1 + 0.2 }, { source: 'n', metric: 'y', value: 1.7976931348623157e308 }, { source: 'n', metric: 'z', value: 5e-324 }, { source: 'n', metric: 'w', value: 123456789012345680000 }]),
    '[{"source":"n","metric":"x","value":1E5},{"source":"n","metric":"x","value":-0.0},{"source":"n","metric":"x","value":12345678901234567890.123}]',
  ];
  for (const text of shapes) assert.ok(agrees(scanner, Buffer.from(text)), `not taken by the fast path: ${text.slice(0, 120)}`);
});

test('fast path: what it does not know goes to parse.ts (and errors stay parse.ts\' errors)', () => {
  const ts = NOW - 1000;
  const others = [
    '[]', '{}', '[[]]', 'null', '1', '"x"', '', '  ', '[{}]', '{"seq":1}', '{"samples":[]}',
    '[{"source":"a","metric":"b","value":1}', // truncated
    '[{"source":"a","metric":"b","value":1},]', // trailing comma
    '[{"source":"a","metric":"b","value":1}] x', // trailing garbage
    '[{"source":"a","metric":"b","value":01}]', '[{"source":"a","metric":"b","value":1.}]', '[{"source":"a","metric":"b","value":.5}]', '[{"source":"a","metric":"b","value":+1}]',
    '[{"source":"a","metric":"b","value":1e400}]', // Infinity
    '[{"source":"a\\u0062","metric":"b","value":1}]', // an escape
    '[{"source":"a","metric":"b","value":1,"unit":"µs"}]', // non-ASCII
    '[{"source":"a","metric":"b","value":1,"tags":{"k":1}}]', '[{"source":"a","metric":"b","value":1,"tags":[]}]', '[{"source":"a","metric":"b","value":1,"tags":{"k":"v",}}]',
    '[{"source":"a","metric":"b","value":1,"tags":{"9k":"v"}}]', '[{"source":"a","metric":"b","value":1,"tags":{"__proto__":"v"}}]', `[{"source":"a","metric":"b","value":1,"tags":{"k":"${'v'.repeat(65)}"}}]`,
    `[{"source":"a","metric":"b","value":1,"tags":{${Array.from({ length: limits.maxTags + 1 }, (_, i) => `"k${i}":"v"`).join(',')}}}]`, // too many tags
    '[{"server_name":"a","metric_type":"b","value":1}]', // the original project's aliases
    '[{"source":"a","metric":"b","value":1,"sent_at":1}]',
    '[{"source":"a","metric":"b","value":1,"extra":true}]', // unknown key (parse.ts ignores it)
    '[{"source":"a","source":"c","metric":"b","value":1}]', // duplicate key (JSON.parse: last wins)
    '[{"source":"a","metrics":{"x":1,"x":2}}]',
    '[{"source":"a","metric":"b","value":"1"}]', '[{"source":"a","metric":"b","value":null}]', '[{"source":null,"metric":"b","value":1}]',
    '[{"source":"a","metric":"9b","value":1}]', '[{"source":"a b","metric":"b","value":1}]', '[{"source":"a","metric":"__proto__","value":1}]',
    '[{"source":"a","metrics":{"constructor":1}}]', '[{"source":"a","metrics":{}}]', '[{"source":"a","metrics":null}]',
    `[{"source":"a","metric":"b","value":1,"ts":${NOW + 3600_000}}]`, '[{"source":"a","metric":"b","value":1,"ts":1.5}]', '[{"source":"a","metric":"b","value":1,"ts":1}]',
    '[{"source":"a","metric":"b","value":1,"kind":"histogram"}]', `[{"source":"a","metric":"b","value":1,"unit":"${'u'.repeat(17)}"}]`,
    `[{"source":"a","metric":"b","value":1,"metrics":{"c":2},"ts":${ts}}]`, // both forms
    '{"samples":[{"source":"a","metric":"b","value":1}],"source":"x"}', '{"seq":0,"samples":[{"source":"a","metric":"b","value":1}]}', '{"seq":"1","samples":[{"source":"a","metric":"b","value":1}]}',
    JSON.stringify(Array.from({ length: limits.maxSamples + 1 }, () => ({ source: 'a', metric: 'b', value: 1 }))), // too many
    '\uFEFF[{"source":"a","metric":"b","value":1}]', // a BOM
  ];
  for (const text of others) assert.equal(scanner.scan(Buffer.from(text), limits, NOW), undefined, text.slice(0, 120));
});

test('fast path: a name is found by its closing quote alone, so bytes a held name never has (escapes, controls, non-ASCII) must miss', () => {
  // Names held first, then bytes that start like them with an escape, a control byte or a non-ASCII
  // byte before the first quote: the table must refuse them (parse.ts answers), never return a held name.
  const held = new SampleScanner();
  assert.ok(agrees(held, Buffer.from('[{"source":"web","metric":"cpu","value":1,"unit":"%"}]')));
  for (const text of [
    '[{"source":"web\\","metric":"cpu","value":1}]', // web\" — to JSON an escaped quote, not the end
    '[{"source":"web\\"x","metric":"cpu","value":1}]', // and more of the same string after it
    '[{"source":"web","metric":"cpu\\u0030","value":1}]',
    '[{"source":"web","metric":"cpu","value":1,"unit":"%\\"}]',
    '[{"source":"web","metric":"cpu","value":1,"unit":"\\u00b5s"}]',
    '[{"source":"web","metric":"cpu","value":1,"unit":"\t"}]', // a raw control byte (invalid JSON)
    '[{"source":"w\u00e9b","metric":"cpu","value":1}]', // UTF-8 bytes
  ]) {
    assert.equal(held.scan(Buffer.from(text), limits, NOW), undefined, text);
  }
  assert.ok(agrees(held, Buffer.from('[{"source":"web","metric":"cpu","value":2,"unit":"%"}]')), 'the held names are still found');
});

test('fast path: numbers around the 9-digit chunks and the 15-digit exact limit read as JSON.parse reads them', () => {
  const texts = [
    '1', '12', '123456789', '1234567890', '999999999', '1000000000', '123456789012345', '1234567890123456', '999999999999999',
    '0.1', '0.000000001', '0.123456789', '0.1234567891', '1.23456789012345', '12345678.9012345', '123456789.012345', '-123456789.123456',
    '1733363363363', '-0', '0.5', '9007199254740993', '4294967296.5', '2147483648', '2147483647.25', '-2147483649',
  ];
  for (const t of texts) {
    const text = `[{"source":"n","metric":"x","value":${t}}]`;
    assert.ok(agrees(scanner, Buffer.from(text)), text);
    assert.ok(Object.is(scanner.scan(Buffer.from(text), limits, NOW)!.batch.value[0], JSON.parse(t) as number), t);
  }
});

test('fast path: stream frames decode as decodeStreamMessage() does, seq included', () => {
  for (const text of [
    JSON.stringify({ seq: 42, samples: [{ source: 'a', metric: 'b', value: 1 }] }),
    JSON.stringify({ seq: 5, source: 'a', metrics: { x: 1 } }),
    JSON.stringify({ seq: 0, samples: [{ source: 'a', metric: 'b', value: 1 }] }),
    JSON.stringify({ seq: 9, server_name: 'legacy', cpu_usage: 1, memory_usage: 2, sent_at: NOW }),
    'not json',
  ]) {
    const fast = decodeStreamFrame(Buffer.from(text), scanner, limits, NOW);
    const batch = fast.batch === undefined ? undefined : withoutHints(fast.batch);
    assert.deepStrictEqual({ ...fast, batch }, decodeStreamMessage(text, limits, NOW), text);
  }
});


test('owner hints: each sample\'s owner under the current membership, found again in the source table, redone when the membership changes', () => {
  const calls: string[] = [];
  const byLength = { ownerOf: (s: string) => (calls.push(s), s.length % 3) };
  const allTwo = { ownerOf: () => 2 };
  let current: { ownerOf(s: string): number } | undefined = byLength;
  const sc = new SampleScanner({ owners: () => current });
  const body = Buffer.from(JSON.stringify([
    { source: 'a', metric: 'm', value: 1 },
    { source: 'bb', metrics: { x: 1, y: 2 } }, // the wide form: one owner for each of its samples
    { source: 'ccc', metric: 'm', value: 3 },
    { source: 'a', metric: 'n', value: 4 },
  ]));
  const first = sc.scan(body, limits, NOW)!.batch;
  assert.equal(first.owners?.under, byLength);
  assert.deepEqual([...first.owners!.slots], [1, 2, 2, 0, 1]);
  assert.deepEqual(calls, ['a', 'bb', 'ccc'], 'one lookup per source, then the tag');
  assert.deepEqual([...sc.scan(body, limits, NOW)!.batch.owners!.slots], [1, 2, 2, 0, 1]);
  assert.equal(calls.length, 3, 'the second payload finds every owner in the table');

  current = allTwo;
  const second = sc.scan(body, limits, NOW)!.batch;
  assert.equal(second.owners?.under, allTwo);
  assert.deepEqual([...second.owners!.slots], [2, 2, 2, 2, 2]);
  current = byLength; // back to an earlier membership object: its old tags are not trusted
  assert.deepEqual([...sc.scan(body, limits, NOW)!.batch.owners!.slots], [1, 2, 2, 0, 1]);
  assert.equal(calls.length, 6);

  current = undefined;
  assert.equal(sc.scan(body, limits, NOW)!.batch.owners, undefined, 'no membership: no hints');
  current = { ownerOf: () => -1 };
  assert.equal(sc.scan(body, limits, NOW)!.batch.owners, undefined, 'an owner out of range: no hints');
  assert.equal(new SampleScanner().scan(body, limits, NOW)!.batch.owners, undefined);
});

test('source ids: each sample\'s source as its process name id (the wide form\'s samples share one), in the interner\'s generation', () => {
  const body = Buffer.from(JSON.stringify([
    { source: 'sid-a', metric: 'm', value: 1 },
    { source: 'sid-bb', metrics: { x: 1, y: 2 } },
    { source: 'sid-a', metric: 'n', value: 4 },
  ]));
  const sc = new SampleScanner();
  for (let pass = 0; pass < 2; pass++) { // a miss, then hits in the source table
    const b = sc.scan(body, limits, NOW)!.batch;
    assert.equal(b.sourceIds?.generation, processNames.generation);
    assert.deepEqual([...b.sourceIds!.ids].map((id) => processNames.name(id)), b.source);
    assert.deepEqual([...b.sourceIds!.ids], ['sid-a', 'sid-bb', 'sid-bb', 'sid-a'].map((s) => processNames.id(s)));
  }
  // More samples than the scratch columns start with: they grow together.
  const many = Buffer.from(JSON.stringify(Array.from({ length: 1500 }, (_, i) => ({ source: `sid-${i % 700}`, metric: 'm', value: i }))));
  const b = sc.scan(many, { ...limits, maxSamples: 10_000 }, NOW)!.batch;
  assert.equal(b.sourceIds!.ids.length, 1500);
  assert.ok(b.source.every((s, i) => processNames.name(b.sourceIds!.ids[i]!) === s));
});

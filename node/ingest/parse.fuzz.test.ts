/**
 * Property-based tests of the ingest decoders (fast-check): whatever the input — arbitrary JSON,
 * mutated valid payloads, NDJSON, random bytes through gzip — a decoder either returns samples that
 * all satisfy the sample model, or throws a FleetPulseError. Never another exception, never a hang.
 * CI runs a few thousand cases; FLEETPULSE_FUZZ_RUNS raises it (the bench runs ≥ 100,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { parseJson, parseNdjson } from './parse.js';
import { decodeBody } from './body.js';
import { FleetPulseError } from '../errors.js';
import { arbValidSample as validSample, arbValidWide, assertValidBatch, decodesOrRejects, FUZZ_NOW as NOW, FUZZ_RUNS as RUNS, fuzzLimits as limits } from '../testing/fuzz.js';

test('arbitrary JSON documents: samples or a coded rejection', () => {
  fc.assert(fc.property(fc.jsonValue(), (doc) => decodesOrRejects(() => parseJson(JSON.stringify(doc), limits, NOW))), { numRuns: RUNS });
});

test('arbitrary strings: samples or a coded rejection', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
    decodesOrRejects(() => parseJson(text, limits, NOW));
    decodesOrRejects(() => parseNdjson(text, limits, NOW));
  }), { numRuns: RUNS });
});

test('valid samples are accepted unchanged', () => {
  fc.assert(fc.property(fc.array(validSample, { minLength: 1, maxLength: 20 }), (samples) => {
    const b = parseJson(JSON.stringify(samples), limits, NOW);
    assertValidBatch(b);
    assert.equal(b.length, samples.length);
    samples.forEach((s, i) => {
      assert.equal(b.source[i], s.source);
      assert.equal(b.value[i], Object.is(s.value, -0) ? 0 : s.value);
    });
  }), { numRuns: RUNS });
});

test('valid payloads with one field corrupted are rejected whole', () => {
  const corruptions = fc.constantFrom<[string, unknown]>(['value', 'NaN'], ['value', null], ['source', ''], ['metric', '9x'], ['ts', 1.5], ['tags', { a: { b: 1 } }], ['kind', 'histogram'], ['unit', 'x'.repeat(17)]);
  fc.assert(fc.property(fc.array(validSample, { minLength: 1, maxLength: 10 }), fc.nat(), corruptions, (samples, at, [field, bad]) => {
    const i = at % samples.length;
    const copy = samples.map((s) => ({ ...s })) as Array<Record<string, unknown>>;
    copy[i]![field] = bad;
    assert.throws(() => parseJson(JSON.stringify(copy), limits, NOW), (e: unknown) => e instanceof FleetPulseError && e.index === i);
  }), { numRuns: RUNS });
});

test('wide forms and NDJSON of valid samples round-trip; mixed with garbage lines they are rejected', () => {
  fc.assert(fc.property(fc.array(validSample, { minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), (samples, garbage) => {
    const nd = samples.map((s) => JSON.stringify(s)).join('\n');
    assert.equal(parseNdjson(nd, limits, NOW).length, samples.length);
    decodesOrRejects(() => parseNdjson(`${nd}\n${garbage}`, limits, NOW));
  }), { numRuns: RUNS });
});

test('gzip: random bytes and truncated streams never escape as non-coded errors', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.nat(), async (bytes, cut) => {
    const full = gzipSync(Buffer.from(bytes));
    for (const body of [Buffer.from(bytes), full.subarray(0, cut % (full.length + 1))]) {
      try {
        await decodeBody(body, 'gzip', 4096);
      } catch (err) {
        assert.ok(err instanceof FleetPulseError, String(err));
      }
    }
  }), { numRuns: RUNS });
});

test('wide form: valid documents give one sample per metric; a bad metric value rejects the whole document', () => {
  const bad = fc.constantFrom<unknown>('12', null, true, [], {}, 'NaN');
  fc.assert(fc.property(arbValidWide, fc.nat(), bad, (wide, at, badValue) => {
    const names = Object.keys(wide.metrics);
    const b = parseJson(JSON.stringify(wide), limits, NOW);
    assertValidBatch(b);
    assert.equal(b.length, names.length);
    assert.ok(b.source.every((s) => s === wide.source));
    const broken = { ...wide, metrics: { ...wide.metrics, [names[at % names.length]!]: badValue } };
    assert.throws(() => parseJson(JSON.stringify(broken), limits, NOW), (e: unknown) => e instanceof FleetPulseError);
    decodesOrRejects(() => parseNdjson(`${JSON.stringify(wide)}\n${JSON.stringify(broken)}`, limits, NOW));
  }), { numRuns: RUNS });
});

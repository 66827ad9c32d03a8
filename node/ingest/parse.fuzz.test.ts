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
import { parseJson, parseNdjson, type ParseLimits } from './parse.js';
import { decodeBody } from './body.js';
import { FleetPulseError } from '../errors.js';
import type { SampleBatch } from '../protocol/samples.js';

const RUNS = Number(process.env.FLEETPULSE_FUZZ_RUNS ?? '3000');
const NOW = 1_800_000_000_000;
const limits: ParseLimits = { maxSamples: 500, maxTags: 16, maxFutureMs: 300_000, maxAgeMs: 6 * 3600_000 };

function assertValid(b: SampleBatch): void {
  assert.ok(b.length > 0 && b.length <= limits.maxSamples);
  for (const col of [b.metric, b.source, b.value, b.ts, b.unit, b.kind, b.tags]) assert.equal(col.length, b.length);
  for (let i = 0; i < b.length; i++) {
    assert.match(b.source[i]!, /^[A-Za-z0-9._:-]{1,128}$/);
    assert.match(b.metric[i]!, /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/);
    assert.notEqual(b.metric[i], '__proto__');
    assert.ok(Number.isFinite(b.value[i]));
    assert.ok(Number.isSafeInteger(b.ts[i]) && b.ts[i]! <= NOW + limits.maxFutureMs && b.ts[i]! >= NOW - limits.maxAgeMs);
    assert.ok(b.unit[i]!.length <= 16);
    assert.ok(b.kind[i] === 0 || b.kind[i] === 1);
    if (b.tags[i] !== '') assert.ok(b.tags[i]!.split('\u001f').length <= limits.maxTags);
  }
}

/** Run `f`; it must return a valid batch or throw a FleetPulseError. */
function decodesOrRejects(f: () => SampleBatch): void {
  let b: SampleBatch;
  try {
    b = f();
  } catch (err) {
    assert.ok(err instanceof FleetPulseError, `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return;
  }
  assertValid(b);
}

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:-]{0,20}$/);
const validSample = fc.record(
  {
    source: fc.stringMatching(/^[A-Za-z0-9._:-]{1,30}$/),
    metric: name,
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
    ts: fc.integer({ min: NOW - 6 * 3600_000, max: NOW + 300_000 }),
    unit: fc.string({ maxLength: 16 }),
    kind: fc.constantFrom('gauge', 'counter'),
    tags: fc.dictionary(name, fc.string({ maxLength: 64 }), { maxKeys: 16 }),
  },
  { requiredKeys: ['source', 'metric', 'value'] },
);

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
    assertValid(b);
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
  }), { numRuns: Math.max(200, RUNS / 10) });
});

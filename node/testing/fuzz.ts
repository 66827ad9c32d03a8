/**
 * Shared pieces of the decoders' property tests (parse.fuzz.test.ts, stream-decode.fuzz.test.ts)
 * and the `fuzz` bench scenario: the case count, a fixed clock, limits, the sample arbitraries,
 * and the one check of "every sample a decoder returns satisfies the sample model".
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJson, type ParseLimits } from '../ingest/parse.js';
import type { SampleScanner } from '../ingest/fast-scan.js';
import type { SampleBatch } from '../protocol/samples.js';
import { FleetPulseError } from '../errors.js';
import { processNames } from '../protocol/interner.js';

/** Cases per property: a few thousand in CI, FLEETPULSE_FUZZ_RUNS in the bench (≥ 100,000). */
export const FUZZ_RUNS = Number(process.env.FLEETPULSE_FUZZ_RUNS ?? '3000');
/** The env var the `fuzz` bench scenario sets. */
export const FUZZ_RUNS_ENV = 'FLEETPULSE_FUZZ_RUNS';
export const FUZZ_NOW = 1_800_000_000_000;
export const fuzzLimits: ParseLimits = { maxSamples: 500, maxTags: 16, maxFutureMs: 300_000, maxAgeMs: 6 * 3600_000 };

/** Every sample of `b` satisfies the sample model (DESIGN.md §3) under fuzzLimits at FUZZ_NOW. */
export function assertValidBatch(b: SampleBatch): void {
  assert.ok(b.length > 0 && b.length <= fuzzLimits.maxSamples);
  for (const col of [b.metric, b.source, b.value, b.ts, b.unit, b.kind, b.tags]) assert.equal(col.length, b.length);
  for (let i = 0; i < b.length; i++) {
    assert.match(b.source[i]!, /^[A-Za-z0-9._:-]{1,128}$/);
    assert.match(b.metric[i]!, /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/);
    assert.notEqual(b.metric[i], '__proto__');
    assert.ok(Number.isFinite(b.value[i]));
    assert.ok(Number.isSafeInteger(b.ts[i]) && b.ts[i]! <= FUZZ_NOW + fuzzLimits.maxFutureMs && b.ts[i]! >= FUZZ_NOW - fuzzLimits.maxAgeMs);
    assert.ok(b.unit[i]!.length <= 16);
    assert.ok(b.kind[i] === 0 || b.kind[i] === 1);
    if (b.tags[i] !== '') assert.ok(b.tags[i]!.split('\u001f').length <= fuzzLimits.maxTags);
  }
}

/** Run `f`; it must return a valid batch or throw a FleetPulseError (never another exception). */
export function decodesOrRejects(f: () => SampleBatch): void {
  let b: SampleBatch;
  try {
    b = f();
  } catch (err) {
    assert.ok(err instanceof FleetPulseError, `unexpected ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return;
  }
  assertValidBatch(b);
}

export const arbName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:-]{0,20}$/);
export const arbSource = fc.stringMatching(/^[A-Za-z0-9._:-]{1,30}$/);
export const arbValue = fc.double({ noNaN: true, noDefaultInfinity: true });
export const arbTs = fc.integer({ min: FUZZ_NOW - 6 * 3600_000, max: FUZZ_NOW + 300_000 });

export const arbValidSample = fc.record(
  {
    source: arbSource,
    metric: arbName,
    value: arbValue,
    ts: arbTs,
    unit: fc.string({ maxLength: 16 }),
    kind: fc.constantFrom('gauge', 'counter'),
    tags: fc.dictionary(arbName, fc.string({ maxLength: 64 }), { maxKeys: 16 }),
  },
  { requiredKeys: ['source', 'metric', 'value'] },
);

/** The wide form: several metrics of one source at once. */
export const arbValidWide = fc.record(
  {
    source: arbSource,
    ts: arbTs,
    metrics: fc.dictionary(arbName.filter((n) => n !== '__proto__'), arbValue, { minKeys: 1, maxKeys: 20 }),
    tags: fc.dictionary(arbName, fc.string({ maxLength: 64 }), { maxKeys: 8 }),
  },
  { requiredKeys: ['source', 'metrics'] },
);

/**
 * The ingest fast path's answer for `bytes` must be parse.ts' answer whenever it gives one (and
 * parse.ts must accept what it accepts). Returns whether it answered.
 */
export function fastPathAgrees(scanner: SampleScanner, bytes: Buffer): boolean {
  const fast = scanner.scan(bytes, fuzzLimits, FUZZ_NOW);
  if (fast === undefined) return false;
  const text = bytes.toString('utf8');
  let expected: SampleBatch;
  try {
    expected = parseJson(text, fuzzLimits, FUZZ_NOW);
  } catch (err) {
    assert.fail(`the fast path accepted what parse.ts rejects (${(err as Error).message}): ${text.slice(0, 200)}`);
  }
  assert.deepStrictEqual(withoutHints(fast.batch), expected, text.slice(0, 200));
  return true;
}

/**
 * `b` without the fast path's hints, after checking its source ids name its sources: what
 * parse.ts builds from the same bytes (it gives no hints) must equal the rest.
 */
export function withoutHints(b: SampleBatch): SampleBatch {
  const ids = b.sourceIds;
  if (ids !== undefined) {
    assert.equal(ids.generation, processNames.generation, 'source ids of the current generation');
    assert.equal(ids.ids.length, b.length);
    b.source.forEach((s, i) => assert.equal(processNames.name(ids.ids[i]!), s, `source id of sample ${i}`));
  }
  return { ...b, sourceIds: undefined };
}

/**
 * Property tests of the ingest fast path (fast-check): on random valid payloads and on mutated
 * ones, whatever it answers is parse.ts' answer for the same bytes, and it does answer for a fair
 * share of valid ones. CI runs a few thousand cases; the `fuzz` bench runs 100,000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SampleScanner } from './fast-scan.js';
import { arbValidSample, arbValidWide, fastPathAgrees as agrees, FUZZ_NOW as NOW, FUZZ_RUNS as RUNS } from '../testing/fuzz.js';

const scanner = new SampleScanner();

test('fast path: valid payloads (arrays, wrappers, wide forms) it reads equal parse.ts', () => {
  let taken = 0;
  const arbPayload = fc.oneof(
    fc.array(arbValidSample, { minLength: 1, maxLength: 20 }),
    fc.array(arbValidWide, { minLength: 1, maxLength: 5 }),
    fc.record({ seq: fc.integer({ min: 1 }), samples: fc.array(arbValidSample, { minLength: 1, maxLength: 10 }) }),
    arbValidSample,
  );
  fc.assert(fc.property(arbPayload, fc.boolean(), (doc, pretty) => {
    if (agrees(scanner, Buffer.from(JSON.stringify(doc, null, pretty ? 1 : undefined)))) taken++;
  }), { numRuns: RUNS });
  assert.ok(taken > RUNS / 20, `the fast path took only ${taken} of ${RUNS} valid payloads`);
});

test('fast path: mutated payloads — it agrees with parse.ts or leaves them to it', () => {
  const base = JSON.stringify([{ source: 'web-01', metric: 'cpu', value: 12.5, unit: '%', ts: NOW - 5000 }, { source: 'web-01', ts: NOW, metrics: { mem: 1, disk: 2e3 } }]);
  const alphabet = '{}[]:,"0123456789.-eE abcnlu\\\n'.split('');
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length), fc.nat(2), fc.constantFrom(...alphabet)), { minLength: 1, maxLength: 4 }), (edits) => {
    let text = base;
    for (const [at, op, ch] of edits) {
      const i = at % (text.length + 1);
      text = op === 0 ? text.slice(0, i) + ch + text.slice(i) : op === 1 ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + ch + text.slice(i + 1);
    }
    agrees(scanner, Buffer.from(text));
  }), { numRuns: RUNS });
});

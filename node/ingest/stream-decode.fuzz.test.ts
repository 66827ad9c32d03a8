/**
 * Property-based tests of the stream frame decoder (decodeStreamMessage, fast-check): it never
 * throws; a message is either samples that all satisfy the sample model or a coded error; its
 * `seq` is kept when it could be read (so the error frame names it) and is never invented; valid
 * frames of every shape (samples, {seq, samples}, wide, the original project's) decode unchanged;
 * a frame with one bad field is rejected whole. CI runs a few thousand cases per property;
 * FLEETPULSE_FUZZ_RUNS raises it (the `fuzz` bench runs ≥ 100,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeStreamMessage, type DecodedMessage } from './stream-decode.js';
import { FleetPulseError } from '../errors.js';
import { arbSource, arbValidSample, arbValidWide, arbValue, assertValidBatch, FUZZ_NOW as NOW, FUZZ_RUNS as RUNS, fuzzLimits as limits } from '../testing/fuzz.js';

/** The decoder's contract for any input text. */
function checkDecoded(text: string): DecodedMessage {
  let d: DecodedMessage;
  try {
    d = decodeStreamMessage(text, limits, NOW);
  } catch (err) {
    assert.fail(`decodeStreamMessage threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  assert.ok((d.batch === undefined) !== (d.error === undefined), 'exactly one of batch and error');
  if (d.batch !== undefined) assertValidBatch(d.batch);
  if (d.error !== undefined) assert.ok(d.error instanceof FleetPulseError);
  if (d.seq !== undefined) assert.ok(Number.isSafeInteger(d.seq) && d.seq >= 1, `seq ${d.seq}`);
  return d;
}

// Epoch seconds around the fixed clock (the original clients sent seconds or ms).
const FUZZ_MIN_S = Math.floor((NOW - 3600_000) / 1000);
const FUZZ_MAX_S = Math.floor((NOW + 60_000) / 1000);
const arbSeq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

test('stream frames: arbitrary JSON documents never throw; samples or a coded error', () => {
  fc.assert(fc.property(fc.jsonValue(), (doc) => void checkDecoded(JSON.stringify(doc))), { numRuns: RUNS });
});

test('stream frames: arbitrary text and bytes never throw', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8'))), (text) => void checkDecoded(text)), { numRuns: RUNS });
});

test('stream frames: objects with a random seq and random fields keep a valid seq, never invent one', () => {
  const arbSeqField = fc.oneof(arbSeq, fc.jsonValue());
  fc.assert(fc.property(arbSeqField, fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { maxKeys: 6 }), (seq, rest) => {
    const d = checkDecoded(JSON.stringify({ ...rest, seq }));
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1) assert.equal(d.seq, seq);
    else assert.equal(d.seq, undefined);
  }), { numRuns: RUNS });
});

test('stream frames: valid {seq, samples}, bare arrays, single samples and wide frames decode unchanged', () => {
  fc.assert(fc.property(arbSeq, fc.array(arbValidSample, { minLength: 1, maxLength: 20 }), arbValidWide, (seq, samples, wide) => {
    const a = checkDecoded(JSON.stringify({ seq, samples }));
    assert.equal(a.seq, seq);
    assert.equal(a.batch?.length, samples.length);
    assert.deepEqual(a.batch?.source, samples.map((s) => s.source));
    assert.equal(checkDecoded(JSON.stringify(samples)).batch?.length, samples.length);
    assert.equal(checkDecoded(JSON.stringify({ ...samples[0]!, seq })).batch?.length, 1);
    const w = checkDecoded(JSON.stringify({ ...wide, seq }));
    assert.equal(w.seq, seq);
    assert.equal(w.batch?.length, Object.keys(wide.metrics).length);
  }), { numRuns: RUNS });
});

test('stream frames: the original project\'s messages decode to % metrics and echo sent_at', () => {
  const sentAt = fc.oneof(fc.integer({ min: FUZZ_MIN_S, max: FUZZ_MAX_S }), fc.integer({ min: FUZZ_MIN_S * 1000, max: FUZZ_MAX_S * 1000 }), fc.constant(new Date(NOW).toISOString()), fc.string({ maxLength: 10 }));
  fc.assert(fc.property(arbSeq, arbSource, arbValue, arbValue, sentAt, (seq, server, cpu, mem, sent) => {
    const d = checkDecoded(JSON.stringify({ seq, server_name: server, cpu_usage: cpu, memory_usage: mem, sent_at: sent }));
    assert.equal(d.seq, seq);
    if (d.batch !== undefined) {
      assert.equal(d.batch.length, 2);
      assert.deepEqual(d.legacy, { sentAt: sent });
      assert.ok(d.batch.unit.every((u) => u === '%'));
    }
  }), { numRuns: RUNS });
});

test('stream frames: one corrupted field rejects the whole frame, with its seq', () => {
  const corruptions = fc.constantFrom<[string, unknown]>(['value', 'NaN'], ['value', null], ['source', ''], ['source', 'sp ace'], ['metric', '9x'], ['ts', 1.5], ['tags', { a: { b: 1 } }], ['kind', 'histogram'], ['unit', 'x'.repeat(17)]);
  fc.assert(fc.property(arbSeq, fc.array(arbValidSample, { minLength: 1, maxLength: 10 }), fc.nat(), corruptions, (seq, samples, at, [field, bad]) => {
    const copy = samples.map((s) => ({ ...s })) as Array<Record<string, unknown>>;
    copy[at % copy.length]![field] = bad;
    const d = checkDecoded(JSON.stringify({ seq, samples: copy }));
    assert.equal(d.batch, undefined, 'nothing of a bad frame is applied');
    assert.equal(d.seq, seq, 'the error frame can name the seq');
    assert.equal(d.error?.index, at % copy.length);
  }), { numRuns: RUNS });
});

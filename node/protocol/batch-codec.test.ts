import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeParts, encodeParts, type BatchPart } from './batch-codec.js';
import { emptyBatch, pushSample, SampleKind, type SampleBatch } from './samples.js';
import { ErrorCode, FleetPulseError } from '../errors.js';

const name = fc.string({ minLength: 0, maxLength: 40, unit: 'grapheme' });
const sample = fc.record({
  metric: name,
  source: name,
  unit: fc.constantFrom('', 'percent', 'bytes', 'µs'),
  tags: fc.constantFrom('', 'dc=eu\u001fenv=prod', 'region=日本'),
  kind: fc.constantFrom(SampleKind.Gauge, SampleKind.Counter),
  ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  value: fc.double({ noNaN: true }),
});
const part = fc.record({ samples: fc.array(sample, { maxLength: 60 }), receivedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }) });

interface GenSample { metric: string; source: string; unit: string; tags: string; kind: SampleKind; ts: number; value: number }

function toPart(p: { samples: GenSample[]; receivedAt: number }): BatchPart {
  const b = emptyBatch();
  for (const s of p.samples) pushSample(b, s.metric, s.source, s.value, s.ts, s.unit, s.kind, s.tags);
  return { batch: b, receivedAt: p.receivedAt };
}

test('forwarded batches round-trip exactly (property)', () => {
  fc.assert(
    fc.property(fc.array(part, { maxLength: 6 }), (ps) => {
      const parts = ps.map(toPart);
      assert.deepEqual(decodeParts(encodeParts(parts)), parts);
    }),
    { numRuns: 500 },
  );
});

test('a frame decodes from any offset of a socket read (unaligned slices are copied)', () => {
  const parts = [toPart({ samples: [{ metric: 'cpu', source: 'h1', unit: 'percent', tags: '', kind: SampleKind.Gauge, ts: 1000, value: 0.5 }], receivedAt: 7 })];
  const enc = encodeParts(parts);
  for (const shift of [1, 3, 5, 8]) {
    const read = Buffer.alloc(enc.length + shift);
    enc.copy(read, shift);
    assert.deepEqual(decodeParts(read.subarray(shift)), parts);
  }
});

test('more than 65,535 distinct names switch to 32-bit indexes', () => {
  const b: SampleBatch = emptyBatch();
  for (let i = 0; i < 70_000; i++) pushSample(b, 'm', `host-${i}`, i, 1000 + i, '', SampleKind.Gauge, '');
  const enc = encodeParts([{ batch: b, receivedAt: 1 }]);
  assert.equal(enc.readUInt8(12), 4);
  const [back] = decodeParts(enc);
  assert.equal(back!.batch.source[69_999], 'host-69999');
  assert.deepEqual(back!.batch, b);
});

test('the frame is much smaller than v8 serialization of the same batch', async () => {
  const { serialize } = await import('node:v8');
  const b = emptyBatch();
  for (let i = 0; i < 1000; i++) pushSample(b, `system.metric_${i % 10}`, `host-${Math.floor(i / 10)}.dc1.example`, Math.random(), 1_790_000_000_000 + i, 'percent', SampleKind.Gauge, '');
  const parts = [{ batch: b, receivedAt: 1 }];
  const ours = encodeParts(parts).length;
  const v8 = serialize({ parts }).length;
  assert.ok(ours < v8 / 2, `${ours} B vs v8 ${v8} B`);
});

test('corrupt frames are refused with a typed error, never a crash or a half-read batch', () => {
  const good = encodeParts([toPart({ samples: [{ metric: 'cpu', source: 'h', unit: '', tags: '', kind: SampleKind.Gauge, ts: 1, value: 1 }], receivedAt: 1 })]);
  const bad: Buffer[] = [Buffer.alloc(0), Buffer.alloc(16), good.subarray(0, good.length - 9), Buffer.concat([good.subarray(0, 12), Buffer.from([3]), good.subarray(13)])];
  // A string index past the table.
  const outOfRange = Buffer.from(good);
  outOfRange.writeUInt16LE(9, outOfRange.length - 8 - 8 * 4 + 0);
  bad.push(outOfRange);
  for (const frame of bad) {
    assert.throws(() => decodeParts(frame), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.INTERNAL, `frame of ${frame.length} B`);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchDecoder, BatchEncoder, decodeParts, encodeParts, recoverParts, type BatchPart } from './batch-codec.js';
import { emptyBatch, materialize, pushSample, SampleKind, type SampleBatch } from './samples.js';
import { processNames } from './interner.js';
import { withoutHints } from '../testing/fuzz.js';
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

/** Decoded parts without their source ids, once each id is checked to name its sample's source. */
const plain = (parts: BatchPart[]): BatchPart[] => parts.map((p) => ({ ...p, batch: withoutHints(p.batch) }));

function toPart(p: { samples: GenSample[]; receivedAt: number }): BatchPart {
  const b = emptyBatch();
  for (const s of p.samples) pushSample(b, s.metric, s.source, s.value, s.ts, s.unit, s.kind, s.tags);
  return { batch: b, receivedAt: p.receivedAt };
}

test('forwarded batches round-trip exactly (property)', () => {
  fc.assert(
    fc.property(fc.array(part, { maxLength: 6 }), (ps) => {
      const parts = ps.map(toPart);
      assert.deepEqual(plain(decodeParts(encodeParts(parts))), parts);
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
    assert.deepEqual(plain(decodeParts(read.subarray(shift))), parts);
  }
});

test('more than 65,535 distinct names switch to 32-bit indexes', () => {
  const b: SampleBatch = emptyBatch();
  for (let i = 0; i < 70_000; i++) pushSample(b, 'm', `host-${i}`, i, 1000 + i, '', SampleKind.Gauge, '');
  const enc = encodeParts([{ batch: b, receivedAt: 1 }]);
  assert.equal(enc.readUInt8(16), 4);
  const [back] = decodeParts(enc);
  assert.equal(back!.batch.source[69_999], 'host-69999');
  assert.deepEqual(withoutHints(back!.batch), b);
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
  const bad: Buffer[] = [Buffer.alloc(0), Buffer.alloc(24), good.subarray(0, good.length - 9), Buffer.concat([good.subarray(0, 16), Buffer.from([3]), good.subarray(17)])];
  // A string index past the table.
  const outOfRange = Buffer.from(good);
  outOfRange.writeUInt16LE(9, outOfRange.length - 8 - 8 * 4 + 0);
  bad.push(outOfRange);
  for (const frame of bad) {
    assert.throws(() => decodeParts(frame), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.INTERNAL, `frame of ${frame.length} B`);
  }
});

const hostPart = (hosts: string[], receivedAt = 1): BatchPart =>
  toPart({ samples: hosts.map((h, i) => ({ metric: 'cpu', source: h, unit: 'percent', tags: '', kind: SampleKind.Gauge, ts: 1000 + i, value: i })), receivedAt });

test('a link carries each string once: later frames hold only indexes and decode to the same string objects', () => {
  const enc = new BatchEncoder();
  const dec = new BatchDecoder();
  const hosts = Array.from({ length: 100 }, (_, i) => `host-${i}.dc1.example`);
  const first = enc.encode([hostPart(hosts)]);
  const [a] = dec.decode(first);
  const second = enc.encode([hostPart([...hosts].reverse(), 2)]);
  const [b] = dec.decode(second);
  assert.deepEqual(plain([b!]), [hostPart([...hosts].reverse(), 2)]);
  assert.equal(second.readUInt32LE(12), 0, 'no new strings in the second frame');
  assert.ok(second.length < first.length - 100 * 'host-00.dc1.example'.length, `${second.length} B vs ${first.length} B`);
  // The owner's map lookups find their keys by identity.
  assert.ok(Object.is(a!.batch.source[0], b!.batch.source[99]));
  assert.equal(enc.size, 103); // 100 hosts, cpu, percent and the empty tags
  assert.equal(dec.size, 103);
  // A new name on a warm link travels once, with only its own bytes.
  const third = enc.encode([hostPart(['host-new', hosts[5]!], 3)]);
  assert.equal(third.readUInt32LE(8), 103);
  assert.equal(third.readUInt32LE(12), 1);
  assert.deepEqual(plain(dec.decode(third)), [hostPart(['host-new', hosts[5]!], 3)]);
});

test('many frames over one link round-trip exactly (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.array(part, { maxLength: 3 }), { maxLength: 8 }), fc.integer({ min: 8, max: 400 }), (frames, max) => {
      const enc = new BatchEncoder(max);
      const dec = new BatchDecoder();
      for (const ps of frames) {
        const parts = ps.map(toPart);
        assert.deepEqual(plain(dec.decode(enc.encode(parts))), parts);
        assert.equal(dec.size, enc.size);
      }
    }),
    { numRuns: 300 },
  );
});

test('sources found by their name ids: the same frames as by the Map, views and RESETs included; stale ids are not used (property)', () => {
  const withIds = (b: SampleBatch, generation: number, ids: (source: string, i: number) => number): SampleBatch => ({
    ...b, sourceIds: { generation, ids: Int32Array.from(b.source, ids) },
  });
  const view = fc.record({ p: part, keep: fc.array(fc.boolean(), { maxLength: 60 }) });
  fc.assert(
    fc.property(fc.array(fc.array(view, { maxLength: 3 }), { maxLength: 8 }), fc.integer({ min: 8, max: 400 }), (frames, max) => {
      const byMap = new BatchEncoder(max);
      const byId = new BatchEncoder(max);
      const stale = new BatchEncoder(max);
      const dec = new BatchDecoder();
      for (const vs of frames) {
        const plainParts: BatchPart[] = [];
        const ided: BatchPart[] = [];
        const staled: BatchPart[] = [];
        for (const { p, keep } of vs) {
          const whole = toPart(p);
          // Every other part is a view (the positions a split by owner keeps).
          const positions = whole.batch.source.map((_, i) => i).filter((i) => keep[i] === true);
          const index = positions.length % 2 === 0 ? undefined : Int32Array.from(positions);
          plainParts.push({ batch: whole.batch, index, receivedAt: whole.receivedAt });
          ided.push({ batch: withIds(whole.batch, processNames.generation, (s) => processNames.id(s)), index, receivedAt: whole.receivedAt });
          // Ids of another generation, and wrong ones: the encoder must not read them.
          staled.push({ batch: withIds(whole.batch, processNames.generation + 1, (_s, i) => i % 3), index, receivedAt: whole.receivedAt });
        }
        const frame = byMap.encode(plainParts);
        assert.deepEqual(byId.encode(ided), frame);
        assert.deepEqual(stale.encode(staled), frame);
        assert.deepEqual(plain(dec.decode(frame)).map((d) => d.batch), plainParts.map(materialize));
      }
    }),
    { numRuns: 300 },
  );
});

test('a sender reads back any frame it sent with the dictionary taken after encoding it, even after later frames and RESETs (property)', () => {
  const view = fc.record({ p: part, keep: fc.array(fc.boolean(), { maxLength: 60 }) });
  fc.assert(
    fc.property(fc.array(fc.array(view, { maxLength: 3 }), { maxLength: 8 }), fc.integer({ min: 8, max: 400 }), (frames, max) => {
      const enc = new BatchEncoder(max);
      const sent: Array<{ frame: Buffer; dictionary: readonly string[]; parts: SampleBatch[] }> = [];
      for (const vs of frames) {
        const parts = vs.map(({ p, keep }) => {
          const whole = toPart(p);
          const positions = whole.batch.source.map((_, i) => i).filter((i) => keep[i] === true);
          const index = positions.length % 2 === 0 ? undefined : Int32Array.from(positions);
          return { batch: { ...whole.batch, sourceIds: { generation: processNames.generation, ids: Int32Array.from(whole.batch.source, (s) => processNames.id(s)) } }, index, receivedAt: whole.receivedAt };
        });
        const frame = enc.encode(parts);
        sent.push({ frame, dictionary: enc.dictionary, parts: parts.map((q) => withoutHints(materialize(q))) });
      }
      // Read back only after every frame was sent: later frames (and resets) must not change what an earlier one says.
      for (const { frame, dictionary, parts } of sent) {
        const back = recoverParts(frame, dictionary);
        assert.deepEqual(back.map((b) => withoutHints(b.batch)), parts);
        for (const b of back) assert.deepEqual([...b.batch.sourceIds!.ids], b.batch.source.map((s) => processNames.id(s)));
      }
    }),
    { numRuns: 300 },
  );
});

test('a dictionary at its cap starts over (RESET) and both ends stay in step', () => {
  const enc = new BatchEncoder(50);
  const dec = new BatchDecoder();
  const hostsA = Array.from({ length: 10 }, (_, i) => `a-${i}`);
  const hostsB = Array.from({ length: 10 }, (_, i) => `b-${i}`);
  dec.decode(enc.encode([hostPart(hostsA)]));
  assert.equal(enc.size, 13);
  const frame = enc.encode([hostPart(hostsB)]); // 13 + 4 × 10 > 50
  assert.equal(frame.readUInt8(17) & 1, 1, 'RESET flag');
  assert.equal(frame.readUInt32LE(8), 0);
  assert.deepEqual(plain(dec.decode(frame)), [hostPart(hostsB)]);
  assert.equal(enc.size, 13);
  assert.equal(dec.size, 13);
});

test('a decoder out of step refuses the frame, and every frame after an unreadable one', () => {
  const enc = new BatchEncoder();
  const f1 = enc.encode([hostPart(['h1'])]);
  const f2 = enc.encode([hostPart(['h2'])]);
  const dec = new BatchDecoder();
  // f2 needs f1's strings: decoded first, it is refused, not misread.
  assert.throws(() => dec.decode(f2), (e: unknown) => e instanceof FleetPulseError && e.code === ErrorCode.INTERNAL && /out of step/.test(e.message));
  // The link is done: even the frame that would have fitted is refused now.
  assert.throws(() => dec.decode(f1), (e: unknown) => e instanceof FleetPulseError && /earlier frame/.test(e.message));
  // In order, on a fresh decoder, both read.
  const ok = new BatchDecoder();
  assert.deepEqual(plain(ok.decode(f1)), [hostPart(['h1'])]);
  assert.deepEqual(plain(ok.decode(f2)), [hostPart(['h2'])]);
});

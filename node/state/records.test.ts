import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PackedRecords, SplitRecords, type BucketRecords } from './records.js';

interface Bucket { count: number; sum: number; min: number; max: number; last: number; off: number }

const layouts: Array<[string, (n: number) => BucketRecords, number, number]> = [
  ['packed', (n) => new PackedRecords(n), PackedRecords.BYTES, 40],
  ['split', (n) => new SplitRecords(n), SplitRecords.BYTES, 38],
];

function read(r: BucketRecords, i: number, start = 0, unit = 1): number[] {
  let out: number[] = [];
  r.visit(i, start, unit, (...b) => (out = b));
  return out;
}

for (const [name, make, declared, bytes] of layouts) {
  test(`${name} records: ${bytes} bytes each, empty at first`, () => {
    const r = make(3);
    assert.equal(declared, bytes);
    assert.equal(r.byteLength, 3 * bytes);
    for (let i = 0; i < 3; i++) assert.equal(r.count(i), 0);
  });

  test(`${name} records: counts and sums add, min/max fold, the later offset wins last and a tie goes to the incoming bucket`, () => {
    const r = make(1);
    r.set(0, 1, 5, 5, 5, 5, 500);
    r.merge(0, 1, 9, 9, 9, 9, 900);
    r.merge(0, 1, 1, 1, 1, 1, 100); // older offset: not last
    assert.deepEqual(read(r, 0, 1000), [1000, 3, 15, 1, 9, 9, 1900]);
    r.merge(0, 2, 7, 3, 4, 4, 900); // same offset as the current last: the incoming one wins
    assert.deepEqual(read(r, 0, 1000), [1000, 5, 22, 1, 9, 4, 1900]);
    r.clear(0);
    assert.equal(r.count(0), 0);
  });

  test(`${name} records: the offset is scaled by the ring unit and keeps all 16 bits`, () => {
    const r = make(1);
    r.set(0, 1, 2, 2, 2, 2, 65535);
    assert.deepEqual(read(r, 0, 60_000, 2), [60_000, 1, 2, 2, 2, 2, 60_000 + 65535 * 2]);
  });

  test(`${name} records: neighbours never share a field (any sequence of writes, against a plain-object model)`, () => {
    const op = fc.record({
      i: fc.integer({ min: 0, max: 4 }),
      count: fc.integer({ min: 1, max: 1000 }),
      v: fc.double({ min: -1e12, max: 1e12, noNaN: true }),
      off: fc.integer({ min: 0, max: 65535 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const r = make(5);
        const model: Array<Bucket | undefined> = [];
        for (const o of ops) {
          const m = model[o.i];
          if (m === undefined) {
            r.set(o.i, o.count, o.v, o.v, o.v, o.v, o.off);
            model[o.i] = { count: o.count, sum: o.v, min: o.v, max: o.v, last: o.v, off: o.off };
          } else {
            r.merge(o.i, o.count, o.v, o.v, o.v, o.v, o.off);
            m.count += o.count;
            m.sum += o.v;
            m.min = Math.min(m.min, o.v);
            m.max = Math.max(m.max, o.v);
            if (o.off >= m.off) [m.last, m.off] = [o.v, o.off];
          }
        }
        for (let i = 0; i < 5; i++) {
          const m = model[i];
          if (m === undefined) assert.equal(r.count(i), 0);
          else assert.deepEqual(read(r, i), [0, m.count, m.sum, m.min, m.max, m.last, m.off]);
        }
      }),
    );
  });
}

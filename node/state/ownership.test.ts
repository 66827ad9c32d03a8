import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a32, Ownership, splitByOwner, workerDial } from './ownership.js';
import { emptyBatch, materialize, pushSample, SampleKind, viewLength, type SampleBatch } from '../protocol/samples.js';

test('FNV-1a 32 matches the reference vectors', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
});

test('rendezvous ownership spreads evenly and moves only the leaving worker\'s sources', () => {
  const four = new Ownership([0, 1, 2, 3], 9100);
  const three = new Ownership([0, 1, 3], 9100);
  const counts = [0, 0, 0, 0];
  let moved = 0;
  for (let i = 0; i < 20_000; i++) {
    const src = `host-${i}`;
    const a = four.ownerOf(src);
    counts[a]!++;
    const b = three.ownerOf(src);
    if (a !== 2) assert.equal(b, a, 'a source not owned by the leaving worker must not move');
    else moved++;
  }
  for (const c of counts) assert.ok(c > 4500 && c < 5500, `uneven split ${counts}`);
  assert.equal(moved, counts[2]);
  assert.equal(new Ownership([], 9100).ownerOf('x'), -1);
});

test('splitByOwner: every sample goes to its source\'s owner, in order, as views; one owner gets the whole batch', () => {
  const own = new Ownership([0, 2, 5], 9100);
  const b: SampleBatch = emptyBatch();
  // Runs of one source (the wide form), single samples, and sources coming back later.
  for (let i = 0; i < 3000; i++) {
    const src = `host-${Math.floor(i / (i % 7 === 0 ? 1 : 3)) % 400}`;
    pushSample(b, `m${i % 5}`, src, i, 1000 + i, i % 2 === 0 ? '' : 'bytes', i % 3 === 0 ? SampleKind.Counter : SampleKind.Gauge, i % 11 === 0 ? 'dc=eu' : '');
  }
  const parts = splitByOwner(b, own);
  assert.deepEqual([...parts.keys()].sort(), [0, 2, 5]);
  const expected = new Map<number, SampleBatch>([[0, emptyBatch()], [2, emptyBatch()], [5, emptyBatch()]]);
  for (let i = 0; i < b.length; i++) {
    pushSample(expected.get(own.ownerOf(b.source[i]!))!, b.metric[i]!, b.source[i]!, b.value[i]!, b.ts[i]!, b.unit[i]!, b.kind[i]!, b.tags[i]!);
  }
  for (const [slot, part] of parts) {
    assert.equal(part.batch, b, 'a view of the batch, not a copy');
    assert.deepEqual({ ...materialize(part) }, { ...expected.get(slot)! }, `slot ${slot}`);
  }
  assert.equal([...parts.values()].reduce((n, v) => n + viewLength(v), 0), b.length);

  const mine = emptyBatch();
  for (let i = 0; i < 50; i++) pushSample(mine, 'cpu', 'host-1', i, 1000 + i, '', SampleKind.Gauge, '');
  assert.deepEqual(splitByOwner(mine, own).get(own.ownerOf('host-1')), { batch: mine, index: undefined }, 'one owner: the whole batch');
  assert.deepEqual(splitByOwner(b, new Ownership([3], 9100)).get(3), { batch: b, index: undefined }, 'one worker: the whole batch');
  assert.equal(splitByOwner(emptyBatch(), own).size, 0);
});

test('ownerOf is Caddy\'s rendezvous choice: the highest fnv1a32(key + dial), the first slot on ties', () => {
  const slots = [4, 0, 7, 1];
  const own = new Ownership(slots, 9311);
  const sorted = [...slots].sort((a, b) => a - b);
  const reference = (key: string): number => {
    let best = -1;
    let bestHash = -1;
    for (const s of sorted) {
      const h = fnv1a32(key + workerDial(s, 9311));
      if (h > bestHash) {
        bestHash = h;
        best = s;
      }
    }
    return best;
  };
  const keys = ['', 'a', 'web-01', 'stream:abc', 'rack-7.dc-eu.example.com', 'hôte-é', '主机-1', 'emoji-😀-x', ...Array.from({ length: 5000 }, (_, i) => `host-${i * 7919}`)];
  for (const k of keys) assert.equal(own.ownerOf(k), reference(k), k);
});

test('splitByOwner follows the batch\'s owner hints made under this membership, and ignores hints made under another', () => {
  const own = new Ownership([0, 1], 9100);
  const b: SampleBatch = emptyBatch();
  for (let i = 0; i < 10; i++) pushSample(b, 'cpu', `h-${i}`, i, 1000 + i, '', SampleKind.Gauge, '');
  // Hints that disagree with own.ownerOf on purpose: a split that used them sends sample i to slot i % 2.
  const slots = Int32Array.from({ length: 10 }, (_, i) => i % 2);
  b.owners = { under: own, slots };
  const parts = splitByOwner(b, own);
  assert.deepEqual(materialize(parts.get(0)!).source, ['h-0', 'h-2', 'h-4', 'h-6', 'h-8']);
  assert.deepEqual(materialize(parts.get(1)!).source, ['h-1', 'h-3', 'h-5', 'h-7', 'h-9']);
  // Made under an earlier membership: looked up afresh.
  b.owners = { under: new Ownership([0, 1], 9100), slots };
  for (const [slot, part] of splitByOwner(b, own)) for (const s of materialize(part).source) assert.equal(own.ownerOf(s), slot, s);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a32, Ownership } from './ownership.js';

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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a, NameTable } from './name-table.js';
import { processNames } from '../protocol/interner.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const get = (t: NameTable, s: string): string | undefined => t.get(bytes(s), 0, s.length);

test('fnv1a is FNV-1a 32 (signed)', () => {
  assert.equal(fnv1a(bytes(''), 0, 0) >>> 0, 0x811c9dc5);
  assert.equal(fnv1a(bytes('a'), 0, 1) >>> 0, 0xe40c292c);
  assert.equal(fnv1a(bytes('foobar'), 0, 6) >>> 0, 0xbf9cf968);
});

test('a name comes back as the same string object, however many names the table holds (it grows, nothing is evicted)', () => {
  const t = new NameTable(() => true, { initialLog2: 2, maxLog2: 20 });
  const names = Array.from({ length: 100_000 }, (_, i) => `peer-${i}`);
  const first = names.map((n) => get(t, n));
  assert.equal(t.size, names.length);
  assert.ok(t.capacity >= 2 * names.length);
  names.forEach((n, i) => {
    const again = get(t, n);
    assert.equal(again, n);
    // Identity, not only equality: a rebuilt copy would be a different object with the same text.
    assert.ok(Object.is(again, first[i]) && first[i] === again, n);
  });
  assert.equal(t.size, names.length, 'no duplicates were inserted');
});

test('names sharing a slot, and names with the same hash and length, are told apart by their bytes', () => {
  const t = new NameTable(() => true, { initialLog2: 1, maxLog2: 8 });
  const names = Array.from({ length: 100 }, (_, i) => `host-${i}`);
  for (let round = 0; round < 3; round++) for (const n of names) assert.equal(get(t, n), n);
  // Force equal hashes: the caller's hash is trusted for the slot, the bytes decide the name.
  const u = new NameTable(() => true);
  assert.equal(u.get(bytes('abc'), 0, 3, 7), 'abc');
  assert.equal(u.get(bytes('abd'), 0, 3, 7), 'abd');
  assert.equal(u.get(bytes('abc'), 0, 3, 7), 'abc');
  assert.equal(u.size, 2);
});

test('the empty name and names cut from a larger buffer', () => {
  const t = new NameTable(() => true);
  assert.equal(get(t, ''), '');
  const b = bytes('"cpu","mem"');
  assert.equal(t.get(b, 1, 4), 'cpu');
  assert.equal(t.get(b, 7, 10), 'mem');
  assert.equal(t.get(b, 1, 4), 'cpu');
});

test('an invalid name never enters the table', () => {
  const t = new NameTable((s) => s !== 'bad');
  assert.equal(get(t, 'bad'), undefined);
  assert.equal(get(t, 'bad'), undefined);
  assert.equal(t.size, 0);
  assert.equal(get(t, 'good'), 'good');
  assert.equal(t.size, 1);
});

test('full at its largest size it starts over, so a flood of one-off names stays bounded', () => {
  const t = new NameTable(() => true, { initialLog2: 2, maxLog2: 6 }); // at most 32 names
  for (let i = 0; i < 1000; i++) {
    assert.equal(get(t, `once-${i}`), `once-${i}`);
    assert.ok(t.size <= 32 && t.capacity <= 64, `size ${t.size}, capacity ${t.capacity}`);
  }
  assert.equal(get(t, 'kept'), 'kept');
  assert.equal(get(t, 'kept'), 'kept');
});

test('tags: 0 for a new name, kept per name through growth, all back to 0 on clearTags', () => {
  const t = new NameTable(() => true, { initialLog2: 1, maxLog2: 12 });
  const tagOf = (n: string): number => {
    get(t, n);
    return t.tag(t.lastEntry);
  };
  assert.equal(tagOf('first'), 0);
  t.setTag(t.lastEntry, 41);
  const names = Array.from({ length: 500 }, (_, i) => `n-${i}`);
  for (const [i, n] of names.entries()) {
    assert.equal(tagOf(n), 0);
    t.setTag(t.lastEntry, i + 1);
  }
  assert.ok(t.capacity >= 1024, 'it grew (rehashed) while tags were set');
  assert.equal(tagOf('first'), 41);
  for (const [i, n] of names.entries()) assert.equal(tagOf(n), i + 1, n);
  t.clearTags();
  assert.equal(tagOf('first'), 0);
  for (const n of names) assert.equal(tagOf(n), 0);
});

test('ids: each name\'s process id next to it; clear() forgets every name and takes the interner\'s generation', () => {
  const t = new NameTable(() => true, { initialLog2: 2, maxLog2: 12 });
  const names = Array.from({ length: 300 }, (_, i) => `nt-id-${i}`);
  for (const n of names) get(t, n);
  for (const n of names) {
    assert.equal(get(t, n), n);
    assert.equal(processNames.name(t.id(t.lastEntry)), n, 'kept through growth');
  }
  assert.equal(t.generation, processNames.generation);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(get(t, names[7]!), names[7]);
  assert.equal(t.id(t.lastEntry), processNames.id(names[7]!));
});

test('only printable ASCII without a quote or a backslash enters, whatever `valid` says (the scanner relies on it)', () => {
  const t = new NameTable(() => true);
  for (const bad of ['a"b', 'a\\', '\\u0041', 'tab\there', 'nul\u0000', 'caf\u00e9', '\u007f']) {
    assert.equal(get(t, bad), undefined, JSON.stringify(bad));
  }
  assert.equal(t.size, 0);
  assert.equal(get(t, 'a b~!'), 'a b~!', 'space and tilde are printable');
});

test('a name keeps its entry through growth: what id() and tag() were given before a rehash still answers for it', () => {
  const t = new NameTable(() => true, { initialLog2: 1, maxLog2: 16 });
  assert.equal(get(t, 'early'), 'early');
  const entry = t.lastEntry;
  t.setTag(entry, 7);
  for (let i = 0; i < 5_000; i++) get(t, `later-${i}`);
  assert.ok(t.capacity >= 8192, 'it grew several times');
  assert.equal(t.tag(entry), 7);
  assert.equal(processNames.name(t.id(entry)), 'early');
  assert.equal(get(t, 'early'), 'early');
  assert.equal(t.lastEntry, entry);
});

/**
 * The process interner: one entry per distinct name, bounded, and fed where names are made (a
 * name table's miss, a peer link dictionary's new string). String identity is not observable from
 * JS, so what is tested is that those paths register their names; the Map time it saves is measured
 * by perf (ARCHITECTURE.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Interner, processNames } from './interner.js';
import { BatchDecoder, BatchEncoder } from './batch-codec.js';
import { emptyBatch, pushSample, SampleKind } from './samples.js';
import { NameTable } from '../ingest/name-table.js';

test('an interner holds each name once, with a dense id, and starts over (a new generation) at its bound', () => {
  const i = new Interner(3);
  for (const s of ['a', 'b', 'a', 'c', 'b']) assert.equal(i.intern(s), s);
  assert.equal(i.size, 3);
  assert.deepEqual(['a', 'b', 'c'].map((s) => i.id(s)), [0, 1, 2]);
  assert.equal(i.name(1), 'b');
  assert.equal(i.generation, 0);
  assert.equal(i.id('d'), 0, 'full: started over, ids from 0 again');
  assert.equal(i.size, 1);
  assert.equal(i.generation, 1);
  assert.equal(i.id('a'), 1, 'an old name comes back with a new id');
});

test('name table misses and new dictionary strings register their names with the process', () => {
  const unique = `interned-${process.pid}-${Date.now()}`;
  processNames.intern(''); // the empty unit and tags below: known before counting
  const before = processNames.size;
  const table = new NameTable(() => true);
  const buf = Buffer.from(`"${unique}-scan"`, 'latin1');
  assert.equal(table.get(buf, 1, buf.length - 1), `${unique}-scan`);
  assert.equal(processNames.size, before + 1);
  assert.equal(table.get(buf, 1, buf.length - 1), `${unique}-scan`);
  assert.equal(processNames.size, before + 1, 'a hit makes no new name');

  const b = emptyBatch();
  pushSample(b, `${unique}-metric`, `${unique}-scan`, 1, 1000, '', SampleKind.Gauge, '');
  const decoder = new BatchDecoder();
  const [part] = decoder.decode(new BatchEncoder().encode([{ batch: b, receivedAt: 1 }]));
  assert.equal(part!.batch.source[0], `${unique}-scan`);
  // The source was known already; the metric is new to the process.
  assert.equal(processNames.size, before + 2);
});

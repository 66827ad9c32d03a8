import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grown, grownCapacity } from './grown.js';

test('a column grows by doubling to hold the index, keeps its values, and is returned as is when it has room', () => {
  assert.equal(grownCapacity(0, 0), 1024);
  assert.equal(grownCapacity(0, 5, 256), 256);
  assert.equal(grownCapacity(256, 256, 256), 512);
  assert.equal(grownCapacity(1024, 5000), 8192);
  const a = Int32Array.from([7, 8, 9]);
  assert.equal(grown(a, 2, (n) => new Int32Array(n)), a);
  const b = grown(a, 3, (n) => new Int32Array(n), 4);
  assert.equal(b.length, 4);
  assert.deepEqual([...b], [7, 8, 9, 0]);
  assert.equal(grown(new Float64Array(0), 100_000, (n) => new Float64Array(n)).length, 131_072);
});

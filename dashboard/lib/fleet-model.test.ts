import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetModel, STALE_FLOOR_MS, cellAt, colorIndex, layoutGrid, palette } from './fleet-model.js';

test('fleet model: latest value per source, stale after silence, stable order', () => {
  const m = new FleetModel();
  m.setSources([{ source: 'b', lastSeen: 1000, status: 'live' }, { source: 'old', lastSeen: 0, status: 'stale' }], 1000);
  assert.equal(m.applyFleet(['a', 'b'], [1000, 2], [1, 2], 1000), 2);
  assert.equal(m.applyFleet(['a'], [0, 1], [9], 1100), 0, 'an older bucket never replaces a newer one');
  assert.deepEqual(m.cells().map((c) => c.source), ['a', 'b', 'old']);
  assert.deepEqual(m.counts(1000), { live: 2, stale: 1 });
  assert.deepEqual(m.range(1000), { min: 1, max: 2 });
  for (let t = 2000; t <= 5000; t += 1000) m.applyFleet(['a'], [t, 1], [t], t);
  assert.ok(Math.abs(m.get('a')!.intervalMs - 1000) < 1);
  assert.deepEqual(m.counts(5000 + STALE_FLOOR_MS + 1), { live: 0, stale: 3 });
});

test('fleet model: each run of bucket starts applies to its own entries', () => {
  const m = new FleetModel();
  assert.equal(m.applyFleet(['a', 'b', 'c'], [2000, 1, 3000, 2], [1, 2, 3], 3000), 3);
  assert.deepEqual([m.get('a')!.start, m.get('b')!.start, m.get('c')!.start], [2000, 3000, 3000]);
  // The next update has an older bucket for b (kept at 3000) and a newer one for a.
  assert.equal(m.applyFleet(['b', 'a'], [2000, 1, 4000, 1], [9, 7], 3500), 1);
  assert.deepEqual([m.get('a')!.value, m.get('b')!.value], [7, 2]);
});

test('fleet model: 10,000 sources at 1 Hz stay cheap', () => {
  const m = new FleetModel();
  const src = Array.from({ length: 10_000 }, (_, i) => `h${i}`);
  const last = src.map((_, i) => i);
  const t0 = performance.now();
  for (let k = 0; k < 10; k++) m.applyFleet(src, [1000 + k * 1000, src.length], last, 1000 + k * 1000);
  m.cells();
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(m.size, 10_000);
});

test('heat map geometry: cells fit, hit-testing maps back to the index', () => {
  const l = layoutGrid(10_000, 1200, 600);
  assert.ok(l.cols * l.cell <= 1200);
  assert.ok(l.rows * l.cell <= 600 || l.cell === 4);
  assert.ok(l.cols * l.rows >= 10_000);
  assert.equal(cellAt(l, 0, 0, 10_000), 0);
  assert.equal(cellAt(l, l.cell * 2 + 1, l.cell + 1, 10_000), l.cols + 2);
  assert.equal(cellAt(l, l.cols * l.cell + 1, 0, 10_000), -1);
  assert.equal(cellAt(layoutGrid(3, 100, 100), 99, 99, 3), -1);
  assert.equal(layoutGrid(1, 100, 100).cell, 40);
});

test('colour scale', () => {
  assert.equal(colorIndex(0, 0, 10, 10), 0);
  assert.equal(colorIndex(10, 0, 10, 10), 9);
  assert.equal(colorIndex(5, 5, 5, 10), 5);
  const p = palette(16);
  assert.equal(p.length, 16);
  assert.equal(p[0], 'rgb(18,120,142)');
  assert.equal(p[15], 'rgb(215,48,39)');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packRgba, paintCells } from './heatmap-paint.js';

const BG = packRgba(255, 255, 255);
const RED = packRgba(255, 0, 0);
const BLUE = packRgba(0, 0, 255);

/** The buffer as rows of characters: '.' background, 'r' red, 'b' blue. */
function picture(px: Uint32Array, w: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < px.length / w; y++) rows.push(Array.from(px.subarray(y * w, (y + 1) * w), (c) => (c === BG ? '.' : c === RED ? 'r' : c === BLUE ? 'b' : '?')).join(''));
  return rows;
}

test('packRgba matches ImageData byte order (R, G, B, A in memory)', () => {
  const bytes = new Uint8Array(new Uint32Array([packRgba(1, 2, 3, 4)]).buffer);
  assert.deepEqual([...bytes], [1, 2, 3, 4]);
});

test('cells land at their grid positions with the gap left as background', () => {
  const w = 7;
  const px = new Uint32Array(w * 5);
  paintCells(px, w, 5, { cols: 2, rows: 2, cell: 3, gap: 1 }, 1, new Uint32Array([RED, BLUE, BLUE]), 3, BG);
  assert.deepEqual(picture(px, w), ['rr.bb..', 'rr.bb..', '.......', 'bb.....', 'bb.....']);
});

test('device pixel ratio scales cells; cells past the buffer are clipped, not wrapped', () => {
  const w = 5;
  const px = new Uint32Array(w * 2);
  paintCells(px, w, 2, { cols: 2, rows: 1, cell: 2, gap: 1 }, 2, new Uint32Array([RED, BLUE]), 2, BG);
  // Cell 0: x 0..2, cell 1: x 4..5 (clipped at 5), rows 0..2.
  assert.deepEqual(picture(px, w), ['rr..b', 'rr..b']);
});

test('only `count` cells are painted (a reused colour buffer may be longer)', () => {
  const px = new Uint32Array(4);
  paintCells(px, 4, 1, { cols: 2, rows: 1, cell: 2, gap: 0 }, 1, new Uint32Array([RED, BLUE]), 1, BG);
  assert.deepEqual(picture(px, 4), ['rr..']);
});

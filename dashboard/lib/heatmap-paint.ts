/**
 * Paints the Fleet heat map's cells straight into an RGBA pixel buffer (then one putImageData).
 * 10,000 `fillRect` calls cost 10–50 ms a frame when Chromium rasterizes in software (no GPU), which
 * made long frames; filling typed-array rows costs a few ms for the same picture.
 */
import type { GridLayout } from './fleet-model.js';

/** Pack 8-bit RGBA into the Uint32 an ImageData's buffer holds on a little-endian host. */
export function packRgba(r: number, g: number, b: number, a = 255): number {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/**
 * Fill `px` (widthPx × heightPx device pixels) with `background`, then cell i as a square of
 * `colors[i]` at its grid position (CSS pixels × dpr), clipped to the buffer.
 */
export function paintCells(px: Uint32Array, widthPx: number, heightPx: number, l: GridLayout, dpr: number, colors: Uint32Array, count: number, background: number): void {
  px.fill(background);
  const side = l.cell - l.gap;
  for (let i = 0; i < count; i++) {
    const col = i % l.cols;
    const row = (i - col) / l.cols;
    const x0 = Math.round(col * l.cell * dpr);
    const x1 = Math.min(widthPx, Math.round((col * l.cell + side) * dpr));
    const y0 = Math.round(row * l.cell * dpr);
    const y1 = Math.min(heightPx, Math.round((row * l.cell + side) * dpr));
    if (x1 <= x0) continue;
    const c = colors[i]!;
    for (let y = y0; y < y1; y++) px.fill(c, y * widthPx + x0, y * widthPx + x1);
  }
}

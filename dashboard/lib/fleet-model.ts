/**
 * The Fleet view's model: every source's latest value of one metric, its liveness, and the heat
 * map's geometry and colours. Pure (times are passed in), so 10,000 sources can be tested fast.
 */

/** A source is stale after 3 × its usual interval without a sample, and never before this (as the server's /sources). */
export const STALE_FLOOR_MS = 10_000;

export interface FleetCell {
  source: string;
  value: number | null;
  /** Bucket start of `value`. */
  start: number;
  /** Client time of the last update (or the server's lastSeen, converted). */
  seenAt: number;
  /** Smoothed interval between updates, ms (0 = unknown). */
  intervalMs: number;
}

export interface SourceInfo {
  source: string;
  lastSeen: number;
  status: 'live' | 'stale';
}

export class FleetModel {
  readonly #cells = new Map<string, FleetCell>();
  #order: string[] = [];
  #orderDirty = false;

  get size(): number {
    return this.#cells.size;
  }

  #cell(source: string, now: number): FleetCell {
    let c = this.#cells.get(source);
    if (c === undefined) {
      c = { source, value: null, start: 0, seenAt: now, intervalMs: 0 };
      this.#cells.set(source, c);
      this.#orderDirty = true;
    }
    return c;
  }

  /** Sources known to the server (`GET /api/v1/sources`); `offsetMs` = server clock − client clock. */
  setSources(list: readonly SourceInfo[], now: number, offsetMs = 0): void {
    for (const s of list) {
      const c = this.#cell(s.source, now);
      const seen = s.lastSeen - offsetMs;
      if (s.status === 'stale') c.seenAt = Math.min(c.seenAt, seen, now - STALE_FLOOR_MS - 1);
      else if (seen > c.seenAt) c.seenAt = seen;
    }
  }

  /**
   * A fleet update's columns, its bucket starts as runs (`[start, count, …]`, FleetUpdate in
   * node/protocol/events.ts); returns how many cells changed.
   */
  applyFleet(source: readonly string[], starts: readonly number[], last: readonly number[], now: number): number {
    let changed = 0;
    let i = 0;
    for (let r = 0; r + 1 < starts.length; r += 2) {
      const st = starts[r]!;
      const end = Math.min(source.length, i + starts[r + 1]!);
      for (; i < end; i++) {
        const c = this.#cell(source[i]!, now);
        if (st < c.start) continue; // an older bucket than shown
        if (st > c.start && c.start !== 0) {
          const gap = now - c.seenAt;
          if (gap >= 200) c.intervalMs = c.intervalMs === 0 ? gap : 0.8 * c.intervalMs + 0.2 * gap;
        }
        c.start = st;
        c.value = last[i]!;
        c.seenAt = now;
        changed++;
      }
    }
    return changed;
  }

  isStale(c: FleetCell, now: number): boolean {
    return now - c.seenAt > Math.max(3 * c.intervalMs, STALE_FLOOR_MS);
  }

  counts(now: number): { live: number; stale: number } {
    let live = 0;
    for (const c of this.#cells.values()) if (!this.isStale(c, now)) live++;
    return { live, stale: this.#cells.size - live };
  }

  /** Cells in a stable order (by name), so a source keeps its place on the map. */
  cells(): FleetCell[] {
    if (this.#orderDirty) {
      this.#order = [...this.#cells.keys()].sort();
      this.#orderDirty = false;
    }
    return this.#order.map((s) => this.#cells.get(s)!);
  }

  get(source: string): FleetCell | undefined {
    return this.#cells.get(source);
  }

  /** Min and max of the live values (the colour scale's ends). */
  range(now: number): { min: number; max: number } | undefined {
    let min = Infinity;
    let max = -Infinity;
    for (const c of this.#cells.values()) {
      if (c.value === null || this.isStale(c, now)) continue;
      if (c.value < min) min = c.value;
      if (c.value > max) max = c.value;
    }
    return min === Infinity ? undefined : { min, max };
  }
}

export interface GridLayout {
  cols: number;
  rows: number;
  /** Cell side in CSS pixels, including a 1 px gap when cells are large enough. */
  cell: number;
  gap: number;
}

/** The largest square cells that fit `n` cells into width × height (at least `minCell` px: then it scrolls). */
export function layoutGrid(n: number, width: number, height: number, minCell = 4, maxCell = 40): GridLayout {
  if (n <= 0 || width <= 0) return { cols: 1, rows: 0, cell: maxCell, gap: 1 };
  let cell = Math.min(maxCell, Math.floor(Math.sqrt((width * Math.max(height, 1)) / n)));
  for (; cell > minCell; cell--) {
    const cols = Math.floor(width / cell);
    if (cols > 0 && Math.ceil(n / cols) * cell <= height) break;
  }
  cell = Math.max(minCell, cell);
  const cols = Math.max(1, Math.floor(width / cell));
  return { cols, rows: Math.ceil(n / cols), cell, gap: cell >= 8 ? 1 : 0 };
}

/** Index of the cell under (x, y), or -1. */
export function cellAt(l: GridLayout, x: number, y: number, n: number): number {
  if (x < 0 || y < 0) return -1;
  const col = Math.floor(x / l.cell);
  const row = Math.floor(y / l.cell);
  if (col >= l.cols) return -1;
  const i = row * l.cols + col;
  return i < n ? i : -1;
}

/** Index into a palette of `steps` colours for `v` on [min, max]. */
export function colorIndex(v: number, min: number, max: number, steps: number): number {
  if (!(max > min)) return Math.floor(steps / 2);
  const t = (v - min) / (max - min);
  return Math.max(0, Math.min(steps - 1, Math.floor(t * steps)));
}

/** A sequential palette (teal → yellow → red), readable on dark and light backgrounds. */
export function palette(steps: number): string[] {
  const stops: Array<[number, number, number]> = [[18, 120, 142], [94, 201, 98], [253, 231, 37], [244, 109, 67], [215, 48, 39]];
  const out: string[] = [];
  for (let i = 0; i < steps; i++) {
    const t = steps === 1 ? 0 : (i / (steps - 1)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    const a = stops[k]!;
    const b = stops[k + 1]!;
    const c = a.map((x, j) => Math.round(x + (b[j]! - x) * f));
    out.push(`rgb(${c[0]},${c[1]},${c[2]})`);
  }
  return out;
}

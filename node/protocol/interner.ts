/**
 * One string object per name in this process. Names reach a worker along several paths — each
 * ingest scanner's name tables, and every peer link's dictionary — and each path makes its own
 * string of a name. The partition's Maps keyed by names then met two objects for one source
 * (the one that created the series, and the other path's), and every lookup with the other one
 * fell back to comparing characters (a cache miss on the stored key). Under bench/peer's load a
 * forwarding worker spent ~2.2× the Map time per sample of a worker that forwards nothing.
 * Interning happens only where a path makes a new string (a name table's miss, a dictionary's new
 * entry), so it costs one Map lookup per name per path, never per sample.
 */
export class Interner {
  readonly #max: number;
  #strings = new Map<string, string>();

  /** Holds at most `max` names; past that it starts over (names in use come back at their next miss). */
  constructor(max = 1 << 20) {
    this.#max = max;
  }

  /** The process's string object for `s`'s characters. */
  intern(s: string): string {
    const held = this.#strings.get(s);
    if (held !== undefined) return held;
    if (this.#strings.size >= this.#max) this.#strings = new Map();
    this.#strings.set(s, s);
    return s;
  }

  get size(): number {
    return this.#strings.size;
  }
}

/** The names of this process: sources, metrics and units, whichever path they arrive by. */
export const processNames = new Interner();

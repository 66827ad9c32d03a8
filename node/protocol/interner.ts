/**
 * One string object per name in this process, and a small integer id for it. Names reach a worker
 * along several paths — each ingest scanner's name tables, and every peer link's dictionary — and
 * each path makes its own string of a name. The partition's Maps keyed by names then met two
 * objects for one source (the one that created the series, and the other path's), and every lookup
 * with the other one fell back to comparing characters (a cache miss on the stored key). Under
 * bench/peer's load a forwarding worker spent ~2.2× the Map time per sample of a worker that
 * forwards nothing. Interning happens only where a path makes a new string (a name table's miss, a
 * dictionary's new entry), so it costs one Map lookup per name per path, never per sample.
 *
 * The id (dense, from 0) lets later stages index arrays by name instead of hashing the string
 * again: the scanner hands each sample's source id on with the batch (SampleBatch.sourceIds), and
 * the forwarding encoder finds a source's dictionary index by it. Ids are valid within one
 * generation: past its bound the interner starts over (new ids from 0) and bumps the generation,
 * so anything that keeps ids compares generations first.
 */
export class Interner {
  readonly #max: number;
  #ids = new Map<string, number>();
  #names: string[] = [];
  #generation = 0;

  /** Holds at most `max` names; past that it starts over (names in use come back at their next miss). */
  constructor(max = 1 << 20) {
    this.#max = max;
  }

  /** The process's string object for `s`'s characters. */
  intern(s: string): string {
    return this.#names[this.id(s)]!;
  }

  /** The id of `s`'s characters in this generation (interning them if new). */
  id(s: string): number {
    const held = this.#ids.get(s);
    if (held !== undefined) return held;
    if (this.#names.length >= this.#max) {
      this.#ids = new Map();
      this.#names = [];
      this.#generation++;
    }
    const id = this.#names.length;
    this.#ids.set(s, id);
    this.#names.push(s);
    return id;
  }

  /** The id of `s`'s characters if they are interned in this generation (nothing is added). */
  find(s: string): number | undefined {
    return this.#ids.get(s);
  }

  /** The string of id `id` (of the current generation). */
  name(id: number): string {
    return this.#names[id]!;
  }

  /** Starts over at each reset: ids of an earlier generation mean nothing. */
  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#names.length;
  }
}

/** The names of this process: sources, metrics and units, whichever path they arrive by. */
export const processNames = new Interner();

/**
 * Names (sources, metrics, units) by the bytes they arrive as, for the ingest fast path: a name
 * seen before is found without building a string, and every hit returns the very same string
 * object, so the Maps further on (owners, series ids, the peer links' dictionaries) find it by
 * identity instead of hashing and comparing a fresh copy.
 *
 * An open-addressing table (linear probing) that grows with the names it holds. It replaces a
 * direct-mapped cache of 65,536 slots, in which names sharing a slot evicted each other on every
 * pass: 9.6% of a 10,000-source fleet's names and 78% of a 100,000-source fleet's were rebuilt,
 * revalidated and rehashed downstream on every sample.
 *
 * Everything a lookup reads is in typed arrays: a slot is [FNV-1a hash, entry + 1] (8 bytes), and
 * a hit compares the bytes with the name's own copy in a byte arena, so the string object is never
 * read, only handed out. Why: a lookup is a cache miss on a random slot in a large fleet, and the
 * slots and the name's bytes together took about a third of the scanner's time (perf annotate,
 * bench/peer's bodies in-process); tagged [hash, name, tag, id] cells made a 10,000-name table 1 MB
 * of slots plus the strings, where this layout takes 256 KB of slots plus ~200 KB of entries and bytes.
 * Each name has an entry (numbered in the order names came, kept through growth) with its tag and
 * id. The tag is the caller's int32 per name (the scanner keeps each source's owner there, so
 * finding a source also finds its owner without another lookup); 0 for a new name.
 * The id is the name's process id (protocol/interner.ts), valid while the table's generation is the
 * interner's: a table whose names got ids in an earlier generation starts over at its next insert
 * (and a caller that hands ids on checks `generation` first). Held names are bounded (maxLog2): a
 * table full at its largest size starts over empty, so names sent once and never again (a flood of
 * bogus sources, say) cannot grow it without limit.
 *
 * Every name held is printable ASCII without `"` or `\` (others are refused before `valid` is
 * asked): a hit proves the bytes are such a name, so the scanner finds a name's end by its closing
 * quote alone and leaves the check for escapes and control bytes to the miss.
 */

import { processNames } from '../protocol/interner.js';

/** FNV-1a 32's start and step: the scanner hashes a string while it looks for its closing quote. */
export const FNV_BASIS = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/** FNV-1a 32 of buf[start, end), as a signed int (what NameTable.get and the scanner compute). */
export function fnv1a(buf: Buffer, start: number, end: number): number {
  let h = FNV_BASIS;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return h;
}

export interface NameTableOptions {
  /** log2 of the slots it starts with (default 10). */
  initialLog2?: number;
  /** log2 of the most slots it grows to; it holds at most half as many names (default 20). */
  maxLog2?: number;
}

/** Arena bytes per name a table starts with (names are short; the arena doubles when it runs out). */
const ARENA_BYTES_PER_NAME = 16;

export class NameTable {
  /**
   * Open-addressing slots, two int32 each: the name's FNV-1a hash and its entry + 1 (0: empty).
   * Eight bytes a slot, so a 10,000-name table's slots take 256 KB, not the 1 MB of the tagged
   * [hash, name, tag, id] cells it had.
   */
  #slots: Int32Array;
  #mask: number;
  /** Per entry (names in the order they came): the name, and where its bytes are in #bytes (offset, length). */
  #names: string[] = [];
  #spans: Int32Array;
  #ids: Int32Array;
  #tags: Int32Array;
  /** Every name's bytes, back to back: a hit is compared here, never against the string. */
  #bytes: Uint8Array;
  #used = 0;
  #size = 0;
  /** Entry of the name the last get() returned. */
  #last = 0;
  /** The interner generation of the ids held. */
  #generation = processNames.generation;
  readonly #maxLog2: number;
  readonly #initialLog2: number;
  readonly #valid: (name: string) => boolean;

  constructor(valid: (name: string) => boolean, opts: NameTableOptions = {}) {
    this.#initialLog2 = opts.initialLog2 ?? 10;
    this.#maxLog2 = Math.max(this.#initialLog2, opts.maxLog2 ?? 20);
    this.#valid = valid;
    this.#slots = new Int32Array(2 << this.#initialLog2);
    this.#mask = (1 << this.#initialLog2) - 1;
    const entries = this.#entriesFor(this.#initialLog2);
    this.#spans = new Int32Array(2 * entries);
    this.#ids = new Int32Array(entries);
    this.#tags = new Int32Array(entries);
    this.#bytes = new Uint8Array(ARENA_BYTES_PER_NAME * entries);
  }

  /** Entries a table of 2^log2 slots holds at most (half its slots). */
  #entriesFor(log2: number): number {
    return Math.max(1, (1 << log2) >> 1);
  }

  /** Names held. */
  get size(): number {
    return this.#size;
  }

  /** Slots (twice the names it may hold before it grows). */
  get capacity(): number {
    return this.#mask + 1;
  }

  /** The entry of the name the last get() returned: what id(), tag() and setTag() take (it stays the name's until clear()). */
  get lastEntry(): number {
    return this.#last;
  }

  /** The interner generation of the ids this table holds. */
  get generation(): number {
    return this.#generation;
  }

  /** The process id of the name at `entry` (protocol/interner.ts; of the table's generation). */
  id(entry: number): number {
    return this.#ids[entry]!;
  }

  /** Forget every name (they come back at their next get()), and take the interner's generation. */
  clear(): void {
    const log2 = this.#initialLog2;
    this.#slots = new Int32Array(2 << log2);
    this.#mask = (1 << log2) - 1;
    const entries = this.#entriesFor(log2);
    this.#names = [];
    this.#spans = new Int32Array(2 * entries);
    this.#ids = new Int32Array(entries);
    this.#tags = new Int32Array(entries);
    this.#bytes = new Uint8Array(ARENA_BYTES_PER_NAME * entries);
    this.#used = 0;
    this.#size = 0;
    this.#generation = processNames.generation;
  }

  /** The tag of the name at `entry` (0 until set). */
  tag(entry: number): number {
    return this.#tags[entry]!;
  }

  /** Set the tag of the name at `entry` (an int32). */
  setTag(entry: number, tag: number): void {
    this.#tags[entry] = tag;
  }

  /** Every name's tag back to 0. */
  clearTags(): void {
    this.#tags.fill(0);
  }

  /**
   * The name buf[start, end) (printable ASCII) whose FNV-1a hash is h, or undefined when `valid`
   * refuses it (an invalid name never enters the table).
   */
  get(buf: Buffer, start: number, end: number, h: number = fnv1a(buf, start, end)): string | undefined {
    const slots = this.#slots;
    const len = end - start;
    let slot = h & this.#mask;
    for (;;) {
      const ref = slots[2 * slot + 1]!;
      if (ref === 0) break;
      if (slots[2 * slot] === h) {
        const entry = ref - 1;
        const spans = this.#spans;
        if (spans[2 * entry + 1] === len) {
          const bytes = this.#bytes;
          const at = spans[2 * entry]! - start;
          let i = start;
          while (i < end && bytes[at + i] === buf[i]) i++;
          if (i === end) {
            this.#last = entry;
            return this.#names[entry];
          }
        }
      }
      slot = (slot + 1) & this.#mask;
    }
    // Only printable ASCII without `"` or `\` enters (see the class comment).
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
    }
    const fresh = buf.toString('latin1', start, end);
    if (!this.#valid(fresh)) return undefined;
    const id = processNames.id(fresh);
    this.#insert(h, processNames.name(id), id, buf, start, end, slot);
    return this.#names[this.#last];
  }

  /** Put a name that is not held at `slot` (the empty slot its probe ended on). */
  #insert(h: number, name: string, id: number, buf: Buffer, start: number, end: number, slot: number): void {
    if (this.#generation !== processNames.generation) {
      // The interner started over: every id held is stale.
      this.clear();
      slot = this.#free(h);
    } else if (2 * (this.#size + 1) > this.#mask + 1) {
      const log2 = Math.log2(this.#mask + 1);
      // Full at its largest: start over (names still in use come back on their next sample).
      if (log2 < this.#maxLog2) this.#grow(log2 + 1);
      else this.clear();
      slot = this.#free(h);
    }
    const len = end - start;
    if (this.#used + len > this.#bytes.length) {
      const bytes = new Uint8Array(Math.max(2 * this.#bytes.length, this.#used + len));
      bytes.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = bytes;
    }
    buf.copy(this.#bytes, this.#used, start, end);
    const entry = this.#size++;
    this.#names.push(name);
    this.#spans[2 * entry] = this.#used;
    this.#spans[2 * entry + 1] = len;
    this.#ids[entry] = id;
    this.#tags[entry] = 0;
    this.#used += len;
    this.#slots[2 * slot] = h;
    this.#slots[2 * slot + 1] = entry + 1;
    this.#last = entry;
  }

  /** The first empty slot of h's probe sequence. */
  #free(h: number): number {
    let slot = h & this.#mask;
    while (this.#slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.#mask;
    return slot;
  }

  /** Twice the slots (rehashed) and room for twice the entries; entries keep their numbers. */
  #grow(log2: number): void {
    const old = this.#slots;
    this.#slots = new Int32Array(2 << log2);
    this.#mask = (1 << log2) - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === 0) continue;
      const slot = this.#free(old[i]!);
      this.#slots[2 * slot] = old[i]!;
      this.#slots[2 * slot + 1] = old[i + 1]!;
    }
    const entries = this.#entriesFor(log2);
    const widen = (a: Int32Array, n: number): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.#spans = widen(this.#spans, 2 * entries);
    this.#ids = widen(this.#ids, entries);
    this.#tags = widen(this.#tags, entries);
  }
}

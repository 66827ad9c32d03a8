/**
 * The ingest fast path (hot, pure but for its name caches): the common payload shapes read
 * straight from the body's bytes into a SampleBatch — no JSON.parse object tree, no per-sample
 * strings. JSON.parse plus validation was a third of a memory-mode worker's CPU on push batch
 * 1000 (profiled); most of it went to building 1,000 objects and 3,000 strings per request that
 * were dropped right after.
 *
 * It is a fast path, not a second parser: it handles exactly what it recognises and answers
 * `undefined` for anything else — escapes, non-ASCII, aliases of the original project,
 * unknown or duplicate keys, nulls where a value is required, any value out of range, malformed
 * JSON — and the caller then runs the general path (parse.ts) on the same bytes, which gives the
 * answer or the coded error. So it never accepts what parse.ts rejects, and what it accepts is the
 * batch parse.ts would build, sample for sample (a differential test and fuzz check both).
 *
 * Recognised: an array of samples, `{"samples":[…]}` (with an optional `seq`), or one sample
 * object (optionally with `seq`); a sample is `{source, metric, value, ts?, unit?, kind?}` or the
 * wide form `{source, ts?, unit?, kind?, metrics:{name: number, …}}`, keys in any order, with
 * `tags` of string values (a tags object's canonical form is cached by its bytes).
 *
 * Names (sources, metrics, units) come from tables keyed by their bytes (name-table.ts): a name seen
 * before is found without building a string, as the same string object every time, and was
 * validated when it entered the table.
 */
import { emptyBatch, pushSample, SampleKind, sliceBatch, type SampleBatch } from '../protocol/samples.js';
import { isMetricName, MAX_UNIT, SOURCE_RE } from '../protocol/names.js';
import { readTags, type ParseLimits } from './parse.js';
import { fnv1a, FNV_BASIS, FNV_PRIME, NameTable } from './name-table.js';
import { processNames } from '../protocol/interner.js';
import { grown } from '../protocol/grown.js';

export interface Scanned {
  batch: SampleBatch;
  /** The payload's `seq` (a positive safe integer), when it has one. */
  seq: number | undefined;
}

/** Byte classes. */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Exact powers of ten (every one up to 1e22 is a double exactly). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Significant digits up to which a decimal's digits, as an integer, stay exact (< 2^53). */
const EXACT_DIGITS = 15;

/** Metrics of one wide-form object this path reads (more go to parse.ts). */
const MAX_WIDE = 64;

/** Samples the scanner's scratch columns keep between calls (a larger payload's are let go). */
const SCRATCH_KEPT = 16_384;

/** Thrown inside the scanner to give up (caught in scan()): cheaper than threading a result through. */
const GIVE_UP = Symbol('give up');

/** The first position at or after p that is not JSON whitespace (b.length at the end). */
function skipSpace(b: Buffer, p: number): number {
  const n = b.length;
  while (p < n) {
    const c = b[p]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return p;
    p++;
  }
  return n;
}

/**
 * Values by the bytes they were read from: a direct-mapped table (a colliding entry replaces the
 * one in its slot). `make` turns the text into the value, or undefined when it is invalid — and
 * only valid ones enter the table, so a hit is valid.
 */
export class ByteCache<T> {
  readonly #mask: number;
  readonly #hashes: Int32Array;
  readonly #texts: Array<string | undefined>;
  readonly #values: Array<T | undefined>;
  readonly #make: (text: string) => T | undefined;

  constructor(slotsLog2: number, make: (text: string) => T | undefined) {
    this.#mask = (1 << slotsLog2) - 1;
    this.#hashes = new Int32Array(1 << slotsLog2);
    this.#texts = new Array<string | undefined>(1 << slotsLog2).fill(undefined);
    this.#values = new Array<T | undefined>(1 << slotsLog2).fill(undefined);
    this.#make = make;
  }

  /** The value of buf[start, end) (printable ASCII) with hash h, or undefined when invalid. */
  get(buf: Buffer, start: number, end: number, h: number = fnv1a(buf, start, end)): T | undefined {
    const slot = h & this.#mask;
    const cached = this.#texts[slot];
    if (cached !== undefined && this.#hashes[slot] === h && cached.length === end - start) {
      let i = 0;
      while (i < cached.length && cached.charCodeAt(i) === buf[start + i]) i++;
      if (i === cached.length) return this.#values[slot];
    }
    const text = buf.toString('latin1', start, end);
    const value = this.#make(text);
    if (value === undefined) return undefined;
    this.#hashes[slot] = h;
    this.#texts[slot] = text;
    this.#values[slot] = value;
    return value;
  }
}

/** A tags object as parse.ts canonicalises it, and how many tags it has (checked against maxTags per payload). */
interface TagSet {
  canonical: string;
  count: number;
}

/** A tags object's JSON text → its tag set, by parse.ts' own rules (undefined when it rejects it). */
function tagSet(text: string): TagSet | undefined {
  try {
    const t = JSON.parse(text) as Record<string, unknown>;
    return { canonical: readTags(t, 0, Number.MAX_SAFE_INTEGER), count: Object.keys(t).length };
  } catch {
    return undefined;
  }
}

/** Key ids of a sample object (a bit each, to refuse duplicates). */
const K_SOURCE = 1;
const K_METRIC = 2;
const K_VALUE = 4;
const K_TS = 8;
const K_UNIT = 16;
const K_KIND = 32;
const K_METRICS = 64;
const K_TAGS = 128;
const K_SEQ = 256;
const K_SAMPLES = 512;

const word = (w: string): Buffer => Buffer.from(w, 'latin1');
const GAUGE = word('gauge');
const COUNTER = word('counter');

/** buf[start, end) is `w`. */
function is(b: Buffer, start: number, end: number, w: Buffer): boolean {
  if (end - start !== w.length) return false;
  for (let i = 0; i < w.length; i++) if (b[start + i] !== w[i]) return false;
  return true;
}

/**
 * The id of the key whose text starts at `start` (after its opening quote), or 0 when it is not
 * one of ours — then the payload goes to parse.ts anyway, so keys are matched, never scanned.
 * Byte by byte against literals, closing quote included: a call per candidate word (a loop over
 * its Buffer) was a tenth of the scanner's time.
 */
function keyId(b: Buffer, s: number): number {
  // Every comparison below stays inside the buffer (a valid key is followed by `:`, a value and a
  // brace); a payload too short for that goes to parse.ts.
  if (s + 8 > b.length) return 0;
  switch (b[s]) {
    case 0x73: // s
      if (b[s + 1] === 0x6f && b[s + 2] === 0x75 && b[s + 3] === 0x72 && b[s + 4] === 0x63 && b[s + 5] === 0x65 && b[s + 6] === QUOTE) return K_SOURCE;
      if (b[s + 1] === 0x61 && b[s + 2] === 0x6d && b[s + 3] === 0x70 && b[s + 4] === 0x6c && b[s + 5] === 0x65 && b[s + 6] === 0x73 && b[s + 7] === QUOTE) return K_SAMPLES;
      return b[s + 1] === 0x65 && b[s + 2] === 0x71 && b[s + 3] === QUOTE ? K_SEQ : 0;
    case 0x6d: // m
      if (b[s + 1] !== 0x65 || b[s + 2] !== 0x74 || b[s + 3] !== 0x72 || b[s + 4] !== 0x69 || b[s + 5] !== 0x63) return 0;
      return b[s + 6] === QUOTE ? K_METRIC : b[s + 6] === 0x73 && b[s + 7] === QUOTE ? K_METRICS : 0;
    case 0x76: // v
      return b[s + 1] === 0x61 && b[s + 2] === 0x6c && b[s + 3] === 0x75 && b[s + 4] === 0x65 && b[s + 5] === QUOTE ? K_VALUE : 0;
    case 0x74: // t
      if (b[s + 1] === 0x73 && b[s + 2] === QUOTE) return K_TS;
      return b[s + 1] === 0x61 && b[s + 2] === 0x67 && b[s + 3] === 0x73 && b[s + 4] === QUOTE ? K_TAGS : 0;
    case 0x75: // u
      return b[s + 1] === 0x6e && b[s + 2] === 0x69 && b[s + 3] === 0x74 && b[s + 4] === QUOTE ? K_UNIT : 0;
    case 0x6b: // k
      return b[s + 1] === 0x69 && b[s + 2] === 0x6e && b[s + 3] === 0x64 && b[s + 4] === QUOTE ? K_KIND : 0;
    default:
      return 0;
  }
}

/** Length of a key's text, by id. */
function keyLength(id: number): number {
  switch (id) {
    case K_TS: return 2;
    case K_SEQ: return 3;
    case K_UNIT: case K_KIND: case K_TAGS: return 4;
    case K_VALUE: return 5;
    case K_SOURCE: case K_METRIC: return 6;
    default: return 7; // metrics, samples
  }
}

/** Who owns a source under one membership (state/ownership.ts' Ownership). */
export interface OwnerLookup {
  /** The owner's slot, 0 ≤ slot < 128. */
  ownerOf(source: string): number;
}

export interface ScannerOptions {
  /**
   * The current membership, when the caller splits batches by owner: the scanner then hints each
   * sample's owner (SampleBatch.owners), kept in the source table with the name's entry, so finding a
   * source also finds its owner — the owner Map lookup was a tenth of a forwarding worker's
   * per-sample cost (a cache miss per sample). Undefined while no membership is known.
   */
  owners?: (() => OwnerLookup | undefined) | undefined;
}

/** A new Int32Array (what grown() makes the scanner's per-sample columns with). */
const int32 = (n: number): Int32Array<ArrayBuffer> => new Int32Array(n);

/** Owner tags in the source table: generation · 128 + owner slot; generations stay below 2^24, so a tag is a small integer. */
const OWNER_BITS = 7;
const MAX_GENERATION = 1 << 24;

export class SampleScanner {
  readonly #sources = new NameTable((s) => SOURCE_RE.test(s), { initialLog2: 12, maxLog2: 20 });
  readonly #metrics = new NameTable(isMetricName, { initialLog2: 8, maxLog2: 16 });
  readonly #units = new NameTable((s) => s.length <= MAX_UNIT, { initialLog2: 4, maxLog2: 12 });
  /** Tags objects by their bytes (a fleet's hosts send the same few again and again). */
  readonly #tags = new ByteCache<TagSet>(12, tagSet);
  #limits: ParseLimits | undefined;
  #now = 0;
  /**
   * The samples being read, in columns kept from call to call and written by index: a payload's
   * batch is then cut from them at its exact size. Columns grown by push for every payload were
   * most of the scanner's garbage (about 3× a batch's final size, at batch 1000). Holds at most
   * SCRATCH_KEPT samples between calls.
   */
  #scratch: SampleBatch = emptyBatch();
  /** Second result of the helpers: the end of the last value read. */
  #end = 0;
  /** The wide form's metrics of the object being read (names and values, reused). */
  readonly #wideNames: string[] = [];
  readonly #wideValues: number[] = [];
  readonly #ownersNow: (() => OwnerLookup | undefined) | undefined;
  /** The membership of the payload being read, and its generation (the tags of older ones no longer match). */
  #own: OwnerLookup | undefined;
  #generation = 0;
  /** Owner of each sample read (by index, like #scratch). */
  #owners = new Int32Array(1024);
  /** Process name id of each sample's source (by index, like #scratch). */
  #sourceIds = new Int32Array(1024);
  /** False once an owner of this payload was out of range: the batch then carries no hints. */
  #ownersValid = true;

  constructor(opts: ScannerOptions = {}) {
    this.#ownersNow = opts.owners;
  }

  /** The payload in `buf` as a batch, or undefined: not a shape this path knows (use parse.ts). */
  scan(buf: Buffer, limits: ParseLimits, now: number): Scanned | undefined {
    this.#limits = limits;
    this.#now = now;
    this.#scratch.length = 0;
    // Source ids of an earlier interner generation mean nothing now: the table starts over.
    const generation = processNames.generation;
    if (this.#sources.generation !== generation) this.#sources.clear();
    const own = this.#ownersNow?.();
    if (own !== this.#own) {
      this.#own = own;
      if (++this.#generation === MAX_GENERATION) {
        this.#sources.clearTags();
        this.#generation = 1;
      }
    }
    this.#ownersValid = true;
    try {
      let seq: number | undefined;
      let p = skipSpace(buf, 0);
      if (buf[p] === LBRACKET) p = this.#array(buf, p);
      else if (buf[p] === LBRACE) {
        seq = this.#top(buf, p);
        p = this.#end;
      } else throw GIVE_UP;
      if (skipSpace(buf, p) !== buf.length) throw GIVE_UP; // anything after the value
      const n = this.#scratch.length;
      const batch = sliceBatch(this.#scratch, n);
      if (this.#own !== undefined && this.#ownersValid) batch.owners = { under: this.#own, slots: this.#owners.slice(0, n) };
      // Unless the interner started over while this payload was read (ids from both generations).
      if (processNames.generation === generation) batch.sourceIds = { generation, ids: this.#sourceIds.slice(0, n) };
      return { batch, seq };
    } catch (err) {
      if (err === GIVE_UP) return undefined;
      throw err;
    } finally {
      if (this.#scratch.metric.length > SCRATCH_KEPT) this.#scratch = emptyBatch();
      if (this.#owners.length > SCRATCH_KEPT) this.#owners = new Int32Array(1024);
      if (this.#sourceIds.length > SCRATCH_KEPT) this.#sourceIds = new Int32Array(1024);
    }
  }

  /** `[` sample, … `]` at p; returns the position after it. */
  #array(b: Buffer, p: number): number {
    p = skipSpace(b, p + 1);
    if (b[p] === RBRACKET) throw GIVE_UP; // no samples: parse.ts says so
    for (;;) {
      if (b[p] !== LBRACE) throw GIVE_UP;
      this.#object(b, p, false);
      if (this.#after(b, this.#end, RBRACKET)) return this.#end;
      p = this.#end;
    }
  }

  /**
   * A top-level object at p: `{"samples":[…]}` (with `seq`), or one sample (with `seq`). Returns
   * its seq; #end is the position after it.
   */
  #top(b: Buffer, start: number): number | undefined {
    let p = skipSpace(b, start + 1);
    let seq: number | undefined;
    let seen = 0;
    for (;;) {
      const key = this.#key(b, p);
      p = this.#end;
      if ((key !== K_SAMPLES && key !== K_SEQ) || (seen & key) !== 0) {
        // One sample (with or without seq): read it again as a sample object.
        if ((seen & K_SAMPLES) !== 0) throw GIVE_UP;
        return this.#object(b, start, true);
      }
      seen |= key;
      if (key === K_SEQ) {
        seq = this.#seq(b, p);
        p = this.#end;
      } else {
        if (b[p] !== LBRACKET) throw GIVE_UP;
        p = this.#array(b, p);
      }
      if (this.#after(b, p, RBRACE)) break;
      p = this.#end;
    }
    if ((seen & K_SAMPLES) === 0) throw GIVE_UP; // only a seq
    return seq;
  }

  /**
   * After a member ending at p: `,` (another member follows: false) or `close` (the object or
   * array ends: true); #end is past it and any space.
   */
  #after(b: Buffer, p: number, close: number): boolean {
    p = skipSpace(b, p);
    const c = b[p];
    this.#end = skipSpace(b, p + 1);
    if (c === close) return true;
    if (c !== COMMA) throw GIVE_UP;
    return false;
  }

  /** A `seq` value at p: a positive safe integer. */
  #seq(b: Buffer, p: number): number {
    const v = this.#number(b, p);
    if (!Number.isSafeInteger(v) || v < 1) throw GIVE_UP;
    return v;
  }

  /** `"key":` at p → its id (throws for a key this path does not know); #end is at its value. */
  #key(b: Buffer, p: number): number {
    if (b[p] !== QUOTE) throw GIVE_UP;
    const id = keyId(b, p + 1);
    if (id === 0) throw GIVE_UP;
    p += keyLength(id) + 2;
    if (b[p] !== COLON) {
      p = skipSpace(b, p);
      if (b[p] !== COLON) throw GIVE_UP;
    }
    this.#end = skipSpace(b, p + 1);
    return id;
  }

  /** The closing quote of a string starting at `start` (printable ASCII, no escapes: anything else gives up). */
  #stringEnd(b: Buffer, start: number): number {
    const n = b.length;
    for (let i = start; i < n; i++) {
      const c = b[i]!;
      if (c === QUOTE) return i;
      if (c === BACKSLASH || c < 0x20 || c > 0x7e) throw GIVE_UP;
    }
    throw GIVE_UP;
  }

  /**
   * A name (string) value at p from `table`; #end is after it. Its bytes are hashed on the way to
   * the closing quote and not checked for escapes or control bytes: only a name without them can be
   * found or enter the table (name-table.ts), so the first quote is its end whenever it is found.
   */
  #name(b: Buffer, p: number, table: NameTable): string {
    if (b[p] !== QUOTE) throw GIVE_UP;
    const n = b.length;
    const start = ++p;
    let h = FNV_BASIS;
    let c = 0;
    while (p < n && (c = b[p]!) !== QUOTE) {
      h = Math.imul(h ^ c, FNV_PRIME);
      p++;
    }
    if (p >= n) throw GIVE_UP;
    this.#end = p + 1;
    const name = table.get(b, start, p, h);
    if (name === undefined) throw GIVE_UP;
    return name;
  }

  /** `null` at p (then #end is after it), or not. */
  #null(b: Buffer, p: number): boolean {
    if (b[p] === 0x6e && b[p + 1] === 0x75 && b[p + 2] === 0x6c && b[p + 3] === 0x6c) {
      this.#end = p + 4;
      return true;
    }
    return false;
  }

  /**
   * A JSON number at p, as JSON.parse reads it (#end after it): up to EXACT_DIGITS significant
   * digits without an exponent by one exact division (correctly rounded, as the digits and the
   * power of ten are exact doubles); anything longer by Number() of its text (correctly rounded too).
   * Digits are gathered nine at a time in an int32 (`lo`), then moved into a double (`hi`): a
   * double multiply-add per digit was a chain of float latencies, most of this method's time.
   */
  #number(b: Buffer, p: number): number {
    const n = b.length;
    const start = p;
    const neg = p < n && b[p] === MINUS;
    if (neg) p++;
    let c = p < n ? b[p]! : -1;
    if (c < ZERO || c > NINE) throw GIVE_UP;
    let hi = 0;
    let lo = 0;
    let inLo = 0;
    let digits = 0;
    let frac = 0;
    if (c === ZERO) {
      c = ++p < n ? b[p]! : -1;
      if (c >= ZERO && c <= NINE) throw GIVE_UP; // a leading zero
    } else {
      while (c >= ZERO && c <= NINE) {
        lo = (lo * 10 + (c - ZERO)) | 0;
        if (++inLo === 9) {
          hi = hi * 1e9 + lo;
          lo = 0;
          inLo = 0;
        }
        digits++;
        c = ++p < n ? b[p]! : -1;
      }
    }
    if (c === DOT) {
      c = ++p < n ? b[p]! : -1;
      if (c < ZERO || c > NINE) throw GIVE_UP;
      while (c >= ZERO && c <= NINE) {
        lo = (lo * 10 + (c - ZERO)) | 0;
        if (++inLo === 9) {
          hi = hi * 1e9 + lo;
          lo = 0;
          inLo = 0;
        }
        frac++;
        c = ++p < n ? b[p]! : -1;
      }
    }
    let slow = digits + frac > EXACT_DIGITS;
    if (c === 0x65 || c === 0x45) {
      c = ++p < n ? b[p]! : -1;
      if (c === 0x2b || c === MINUS) c = ++p < n ? b[p]! : -1;
      if (c < ZERO || c > NINE) throw GIVE_UP;
      while (c >= ZERO && c <= NINE) c = ++p < n ? b[p]! : -1;
      slow = true;
    }
    this.#end = p;
    if (slow) return Number(b.toString('latin1', start, p));
    // Exact: at most EXACT_DIGITS digits in all, so hi · 10^inLo + lo < 2^53.
    const m = hi === 0 ? lo : hi * POW10[inLo]! + lo;
    const v = frac === 0 ? m : m / POW10[frac]!;
    return neg ? -v : v;
  }

  /** A finite number value at p (#end after it). */
  #finite(b: Buffer, p: number): number {
    const v = this.#number(b, p);
    if (!Number.isFinite(v)) throw GIVE_UP;
    return v;
  }

  /** The wide form's `{"name": number, …}` at p into #wideNames/#wideValues (#end after it). */
  #metricsObject(b: Buffer, p: number): void {
    const names = this.#wideNames;
    const values = this.#wideValues;
    names.length = 0;
    values.length = 0;
    if (b[p] !== LBRACE) throw GIVE_UP;
    p = skipSpace(b, p + 1);
    if (b[p] === RBRACE) throw GIVE_UP; // at least one metric
    for (;;) {
      const name = this.#name(b, p, this.#metrics);
      // A duplicate: JSON.parse keeps the last value at the first one's place; leave that to
      // parse.ts — as any object of more than MAX_WIDE metrics (the check is a scan).
      if (names.includes(name) || names.length >= MAX_WIDE) throw GIVE_UP;
      p = skipSpace(b, this.#end);
      if (b[p] !== COLON) throw GIVE_UP;
      names.push(name);
      values.push(this.#finite(b, skipSpace(b, p + 1)));
      if (this.#after(b, this.#end, RBRACE)) break;
      p = this.#end;
    }
  }

  /**
   * One sample object at p into the batch (#end after it); `seqAllowed` at the top level. Returns its seq.
   * The hot loop of the fast path: keys and the separators between members are read inline, with
   * the position in a local, and the helpers it calls per field (names, numbers) are small enough to
   * be inlined under the workers' TurboFan budget (primary/worker-flags.ts). The scanner before it (a
   * call per token, positions passed through fields) took 1.26× the time per sample on bench/peer's
   * bodies under the same budget (in-process, alternated runs).
   */
  #object(b: Buffer, p: number, seqAllowed: boolean): number | undefined {
    p = skipSpace(b, p + 1);
    let seen = 0;
    let source: string | undefined;
    let metric: string | undefined;
    let value = 0;
    let ts = this.#now;
    let unit = '';
    let kind: SampleKind = SampleKind.Gauge;
    let tags = '';
    let seq: number | undefined;
    for (;;) {
      if (b[p] !== QUOTE) throw GIVE_UP;
      const key = keyId(b, p + 1);
      if (key === 0 || (seen & key) !== 0 || key === K_SAMPLES || (key === K_SEQ && !seqAllowed)) throw GIVE_UP;
      seen |= key;
      p += keyLength(key) + 2;
      if (b[p] !== COLON) {
        p = skipSpace(b, p);
        if (b[p] !== COLON) throw GIVE_UP;
      }
      p = skipSpace(b, p + 1);
      if (key === K_SOURCE || key === K_METRIC || (key === K_UNIT && b[p] === QUOTE)) {
        const name = this.#name(b, p, key === K_SOURCE ? this.#sources : key === K_METRIC ? this.#metrics : this.#units);
        p = this.#end;
        if (key === K_SOURCE) source = name;
        else if (key === K_METRIC) metric = name;
        else unit = name;
      } else {
        switch (key) {
          case K_VALUE:
            value = this.#finite(b, p);
            break;
          case K_TS:
            if (!this.#null(b, p)) ts = this.#ts(b, p);
            break;
          case K_UNIT: // not a string: null (no unit) or nothing this path reads
            if (!this.#null(b, p)) throw GIVE_UP;
            break;
          case K_KIND:
            if (!this.#null(b, p)) kind = this.#kind(b, p);
            break;
          case K_METRICS:
            this.#metricsObject(b, p);
            break;
          case K_TAGS:
            if (!this.#null(b, p)) tags = this.#tagsObject(b, p);
            break;
          case K_SEQ:
            seq = this.#seq(b, p);
            break;
        }
        p = this.#end;
      }
      // After a member: `,` and the next key, or the closing brace.
      let c = b[p];
      if (c !== COMMA && c !== RBRACE) {
        p = skipSpace(b, p);
        c = b[p];
      }
      if (c === RBRACE) break;
      if (c !== COMMA) throw GIVE_UP;
      p = skipSpace(b, p + 1);
    }
    this.#end = p + 1;
    if (source === undefined) throw GIVE_UP;
    const batch = this.#scratch;
    const owner = this.#own === undefined ? -1 : this.#ownerOf(source);
    const sourceId = this.#sources.id(this.#sources.lastEntry);
    const first = batch.length;
    if ((seen & K_METRICS) !== 0) {
      if ((seen & (K_METRIC | K_VALUE)) !== 0) throw GIVE_UP; // both forms at once: leave it to parse.ts
      const names = this.#wideNames;
      const values = this.#wideValues;
      for (let i = 0; i < names.length; i++) pushSample(batch, names[i]!, source, values[i]!, ts, unit, kind, tags);
    } else {
      if (metric === undefined || (seen & K_VALUE) === 0) throw GIVE_UP;
      pushSample(batch, metric, source, value, ts, unit, kind, tags);
    }
    if (batch.length > this.#limits!.maxSamples) throw GIVE_UP;
    this.#owners = grown(this.#owners, batch.length - 1, int32);
    this.#sourceIds = grown(this.#sourceIds, batch.length - 1, int32);
    // Usually one sample: loops, not fill() calls.
    for (let k = first; k < batch.length; k++) this.#sourceIds[k] = sourceId;
    if (this.#own !== undefined) for (let k = first; k < batch.length; k++) this.#owners[k] = owner;
    return seq;
  }

  /** The owner of the source the source table found last, from its tag or (then tagged) the membership. */
  #ownerOf(source: string): number {
    const table = this.#sources;
    const entry = table.lastEntry;
    const tag = table.tag(entry);
    if (tag >> OWNER_BITS === this.#generation) return tag & ((1 << OWNER_BITS) - 1);
    const owner = this.#own!.ownerOf(source);
    if (owner >= 0 && owner < 1 << OWNER_BITS) table.setTag(entry, this.#generation * (1 << OWNER_BITS) + owner);
    else this.#ownersValid = false;
    return owner;
  }

  /**
   * A tags object at p (#end after it) → its canonical tags: string keys and string values only
   * (anything else parse.ts rejects anyway), found in #tags by its bytes, made by parse.ts' rules
   * on a miss.
   */
  #tagsObject(b: Buffer, p: number): string {
    const start = p;
    if (b[p] !== LBRACE) throw GIVE_UP;
    p = skipSpace(b, p + 1);
    while (b[p] !== RBRACE) {
      // "key": "value", then a comma or the closing brace.
      if (b[p] !== QUOTE) throw GIVE_UP;
      p = skipSpace(b, this.#stringEnd(b, p + 1) + 1);
      if (b[p] !== COLON) throw GIVE_UP;
      p = skipSpace(b, p + 1);
      if (b[p] !== QUOTE) throw GIVE_UP;
      p = skipSpace(b, this.#stringEnd(b, p + 1) + 1);
      if (b[p] === COMMA) {
        p = skipSpace(b, p + 1);
        if (b[p] === RBRACE) throw GIVE_UP; // a trailing comma
      } else if (b[p] !== RBRACE) throw GIVE_UP;
    }
    this.#end = p + 1;
    const set = this.#tags.get(b, start, p + 1);
    if (set === undefined || set.count > this.#limits!.maxTags) throw GIVE_UP;
    return set.canonical;
  }

  /** `ts` at p: integer ms since the epoch within the accepted range. */
  #ts(b: Buffer, p: number): number {
    const v = this.#number(b, p);
    const l = this.#limits!;
    if (!Number.isSafeInteger(v) || v > this.#now + l.maxFutureMs || v < this.#now - l.maxAgeMs) throw GIVE_UP;
    return v;
  }

  /** `"gauge"` or `"counter"` at p. */
  #kind(b: Buffer, p: number): SampleKind {
    if (b[p] !== QUOTE) throw GIVE_UP;
    const end = this.#stringEnd(b, p + 1);
    this.#end = end + 1;
    if (is(b, p + 1, end, GAUGE)) return SampleKind.Gauge;
    if (is(b, p + 1, end, COUNTER)) return SampleKind.Counter;
    throw GIVE_UP;
  }
}

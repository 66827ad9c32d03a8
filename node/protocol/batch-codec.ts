/**
 * Binary encoding of forwarded sample batches (worker → owner over the peer link).
 *
 * v8.serialize of a SampleBatch wrote every string of every sample again (~59 B per sample) and
 * cost ~1.2 µs per sample to serialize and deserialize. Here ts and value travel as raw float64
 * columns and every string as an index into a dictionary that the two ends of a link build
 * together: a frame carries only the strings the link has not carried before, so in steady state
 * (a fleet's sources and metrics seen once) it holds no string bytes at all. That spares the sender
 * a per-frame string table and the owner a new string per distinct name per frame — the owner gets
 * the very same string objects each time, so its map lookups find their keys by identity, with
 * the hash already cached — which were most of the codec's cost at push batch 1000 (profiled).
 *
 * The dictionary is the link's state: frames must be decoded in the order they were encoded, once
 * each, by one decoder per encoder (a socket gives that order). Each frame says how big the
 * dictionary was before its new strings, so a decoder out of step refuses it rather than
 * misreading names; the link is then dropped and a new one starts with empty dictionaries. A frame
 * that would take the dictionary past MAX_DICTIONARY strings starts it over (flag RESET).
 *
 *   u32 magic+version | u32 part count | u32 dictionary size before this frame | u32 new strings
 *   u8 index width (2 or 4) | u8 flags (1 = RESET: empty the dictionary first) | pad to 24
 *   new strings: count × (u32 byte length) then the UTF-8 bytes back to back, padded to 8
 *   per part: f64 receivedAt, u32 n, pad to 8, then f64 ts[n], f64 value[n], idx metric[n],
 *             idx source[n], idx unit[n], idx tags[n], u8 kind[n], each column padded to 8
 *
 * All numbers little-endian (the typed-array views assume a little-endian host, as x86 and arm64
 * are; loading the module refuses otherwise).
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { processNames } from './interner.js';
import { grown } from './grown.js';
import { viewLength, type BatchView, type SampleBatch, type SampleKind } from './samples.js';

/** A view of a batch (the sender's parts may hold only some of its samples; decoded parts are whole batches) and when it arrived. */
export interface BatchPart extends BatchView {
  receivedAt: number;
}

const MAGIC = 0x46504232; // 'FPB2'
const HEADER = 24;
const RESET = 1;
/**
 * Strings a link's dictionary holds at most (each end keeps one string or map entry per name: a
 * few tens of MB at the cap). Names are bounded by the series limit long before this in practice.
 */
export const MAX_DICTIONARY = 1 << 20;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('batch-codec needs a little-endian host');

const pad8 = (n: number): number => (n + 7) & ~7;

/** The four string columns of a batch, in frame order. */
const stringColumns = (b: SampleBatch): readonly (readonly string[])[] => [b.metric, b.source, b.unit, b.tags];

/** The sending end of a link: encodes frames against the dictionary it shares with one decoder. */
export class BatchEncoder {
  readonly #ids = new Map<string, number>();
  readonly #max: number;
  /** Every sample's four indexes of the frame being encoded (reused between frames). */
  #scratch = new Uint32Array(4096);
  /**
   * Dictionary index + 1 of a source by its process name id (0: not looked up yet), for batches
   * that carry source ids (SampleBatch.sourceIds): each sample's source is then an array read
   * instead of a Map lookup — a hash of a string that is a cache miss in a large fleet (~70 ns a
   * forwarded sample under bench/peer's load, most of this encoder's time). Emptied with the
   * dictionary and when the interner starts a new generation.
   */
  #byNameId = new Int32Array(1024);
  #nameGeneration = processNames.generation;
  /**
   * The dictionary in index order, for recoverParts(): a frame can be read back by its sender while
   * the owner has not answered, so a forwarded part needs no copy of its own kept on the heap. A
   * reset starts a new array, and the one a frame was encoded against stays as it was.
   */
  #strings: string[] = [];

  constructor(maxDictionary = MAX_DICTIONARY) {
    this.#max = maxDictionary;
  }

  /** Strings in the dictionary. */
  get size(): number {
    return this.#ids.size;
  }

  /** The dictionary the last frame was encoded against, in index order (recoverParts reads a frame back with it). */
  get dictionary(): readonly string[] {
    return this.#strings;
  }

  encode(parts: readonly BatchPart[]): Buffer {
    let total = 0;
    for (const p of parts) total += viewLength(p);
    const ids = this.#ids;
    let flags = 0;
    if (ids.size > 0 && ids.size + 4 * total > this.#max) {
      ids.clear();
      this.#byNameId.fill(0);
      this.#strings = [];
      flags |= RESET;
    }
    if (this.#nameGeneration !== processNames.generation) {
      this.#byNameId.fill(0);
      this.#nameGeneration = processNames.generation;
    }
    const before = ids.size;
    if (this.#scratch.length < 4 * total) this.#scratch = new Uint32Array(Math.max(4 * total, 2 * this.#scratch.length));
    const scratch = this.#scratch;
    // Pass 1: every string's index; names the link has not carried yet join the dictionary.
    const fresh: string[] = [];
    let k = 0;
    for (const p of parts) {
      const index = p.index;
      const n = viewLength(p);
      const nameIds = p.batch.sourceIds?.generation === this.#nameGeneration ? p.batch.sourceIds.ids : undefined;
      for (const col of stringColumns(p.batch)) {
        if (col === p.batch.source && nameIds !== undefined) {
          for (let j = 0; j < n; j++) scratch[k++] = this.#sourceIndex(col, nameIds, index === undefined ? j : index[j]!, fresh);
          continue;
        }
        let prev: string | undefined;
        let prevId = 0;
        for (let j = 0; j < n; j++) {
          const s = col[index === undefined ? j : index[j]!]!;
          if (s !== prev) {
            // Runs of one name (a source's metrics, empty units and tags) skip the map.
            prev = s;
            let id = ids.get(s);
            if (id === undefined) {
              id = ids.size;
              ids.set(s, id);
              fresh.push(s);
            }
            prevId = id;
          }
          scratch[k++] = prevId;
        }
      }
    }
    for (const s of fresh) this.#strings.push(s);
    const w = ids.size > 0xffff ? 4 : 2;
    const lengths = fresh.map((s) => Buffer.byteLength(s, 'utf8'));
    let size = HEADER + pad8(4 * fresh.length + lengths.reduce((a, n) => a + n, 0));
    for (const p of parts) {
      const n = viewLength(p);
      size += 16 + 16 * n + 4 * pad8(w * n) + pad8(n);
    }
    const buf = Buffer.alloc(size); // never pooled: its own ArrayBuffer at offset 0, as the typed views need
    const ab = buf.buffer;
    const base = buf.byteOffset;
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt32LE(parts.length, 4);
    buf.writeUInt32LE(before, 8);
    buf.writeUInt32LE(fresh.length, 12);
    buf.writeUInt8(w, 16);
    buf.writeUInt8(flags, 17);
    let o = HEADER;
    for (const n of lengths) {
      buf.writeUInt32LE(n, o);
      o += 4;
    }
    for (const s of fresh) o += buf.write(s, o, 'utf8');
    o = pad8(o);
    k = 0;
    for (const p of parts) {
      const { batch: b, receivedAt, index } = p;
      const n = viewLength(p);
      buf.writeDoubleLE(receivedAt, o);
      buf.writeUInt32LE(n, o + 8);
      o += 16;
      gather(new Float64Array(ab, base + o, n), b.ts, index);
      o += 8 * n;
      gather(new Float64Array(ab, base + o, n), b.value, index);
      o += 8 * n;
      for (let c = 0; c < 4; c++) {
        (w === 4 ? new Uint32Array(ab, base + o, n) : new Uint16Array(ab, base + o, n)).set(scratch.subarray(k, k + n));
        k += n;
        o += pad8(w * n);
      }
      gather(new Uint8Array(ab, base + o, n), b.kind, index);
      o += pad8(n);
    }
    return buf;
  }

  /** The dictionary index of sample i's source, found by its name id (joining the dictionary if new). */
  #sourceIndex(sources: readonly string[], nameIds: Int32Array, i: number, fresh: string[]): number {
    const nameId = nameIds[i]!;
    let byNameId = this.#byNameId;
    const known = nameId < byNameId.length ? byNameId[nameId]! : 0;
    if (known > 0) return known - 1;
    const s = sources[i]!;
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(s, id);
      fresh.push(s);
    }
    this.#byNameId = byNameId = grown(byNameId, nameId, (n) => new Int32Array(n));
    byNameId[nameId] = id + 1;
    return id;
  }
}

/** `to[k] = from[index[k]]`, or all of `from` without an index. */
function gather(to: Float64Array | Uint8Array, from: readonly number[], index: Int32Array | undefined): void {
  if (index === undefined) to.set(from);
  else for (let k = 0; k < index.length; k++) to[k] = from[index[k]!]!;
}

/**
 * A typed column as a plain array, as the scanner builds them (the columns' readers then see one
 * kind of array). Array.from takes the iterator path here: ~35 ns a sample under bench/peer's load
 * (perf), several times this loop.
 */
function toArray(col: Float64Array | Uint8Array): number[] {
  const n = col.length;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = col[i]!;
  return out;
}

const corrupt = (why: string): FleetPulseError => new FleetPulseError(ErrorCode.INTERNAL, `corrupt forwarded batch frame: ${why}`);

/** The receiving end of a link: decodes frames in the order its encoder wrote them. */
export class BatchDecoder {
  readonly #table: string[] = [];
  /** The process name id of each dictionary string (decoded parts carry their sources' ids), of generation #tableGeneration. */
  readonly #tableIds: number[] = [];
  #tableGeneration = processNames.generation;
  #broken = false;

  /** A decoder whose dictionary starts as `dictionary` (an encoder's, to read back its own frames). */
  constructor(dictionary: readonly string[] = []) {
    for (const s of dictionary) {
      const id = processNames.id(s);
      this.#table.push(processNames.name(id));
      this.#tableIds.push(id);
    }
  }

  /** Strings in the dictionary. */
  get size(): number {
    return this.#table.length;
  }

  /**
   * The frame's parts. Throws a FleetPulseError (INTERNAL) for a frame it cannot read; after that
   * the dictionary may be out of step, so every later frame is refused too (drop the link).
   */
  decode(frame: Buffer): BatchPart[] {
    if (this.#broken) throw corrupt('an earlier frame on this link was unreadable');
    try {
      return this.#decode(frame);
    } catch (err) {
      this.#broken = true;
      throw err;
    }
  }

  #decode(frame: Buffer): BatchPart[] {
    // The frame is a slice of a socket read at any offset: copy it to an aligned buffer once.
    let buf = frame;
    if (frame.byteOffset % 8 !== 0) {
      buf = Buffer.alloc(frame.length);
      frame.copy(buf);
    }
    if (buf.length < HEADER || buf.readUInt32LE(0) !== MAGIC) throw corrupt('bad magic');
    const partCount = buf.readUInt32LE(4);
    const before = buf.readUInt32LE(8);
    const fresh = buf.readUInt32LE(12);
    const w = buf.readUInt8(16);
    const flags = buf.readUInt8(17);
    if (w !== 2 && w !== 4) throw corrupt('bad index width');
    const table = this.#table;
    const tableIds = this.#tableIds;
    if ((flags & RESET) !== 0) {
      table.length = 0;
      tableIds.length = 0;
    }
    if (before !== table.length) throw corrupt(`dictionary out of step (frame expects ${before} strings, the link has ${table.length})`);
    const ab = buf.buffer;
    const base = buf.byteOffset;
    const need = (o: number, n: number): void => {
      if (o + n > buf.length) throw corrupt('truncated');
    };
    let o = HEADER;
    need(o, 4 * fresh);
    let s = o + 4 * fresh;
    for (let i = 0; i < fresh; i++) {
      const len = buf.readUInt32LE(o + 4 * i);
      need(s, len);
      const id = processNames.id(buf.toString('utf8', s, s + len));
      table.push(processNames.name(id));
      tableIds.push(id);
      s += len;
    }
    const generation = processNames.generation;
    if (generation !== this.#tableGeneration) {
      // The interner started over since some strings joined: their ids are stale.
      for (let j = 0; j < table.length; j++) tableIds[j] = processNames.id(table[j]!);
      this.#tableGeneration = processNames.generation;
    }
    o = pad8(s);
    const names = table.length;
    const parts: BatchPart[] = [];
    for (let p = 0; p < partCount; p++) {
      need(o, 16);
      const receivedAt = buf.readDoubleLE(o);
      const n = buf.readUInt32LE(o + 8);
      o += 16;
      need(o, 16 * n + 4 * pad8(w * n) + pad8(n));
      const ts = toArray(new Float64Array(ab, base + o, n));
      o += 8 * n;
      const value = toArray(new Float64Array(ab, base + o, n));
      o += 8 * n;
      const cols: string[][] = [];
      const sourceIds = new Int32Array(n);
      for (let c = 0; c < 4; c++) {
        const idx = w === 4 ? new Uint32Array(ab, base + o, n) : new Uint16Array(ab, base + o, n);
        const col = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const j = idx[i]!;
          if (j >= names) throw corrupt('string index out of range');
          col[i] = table[j]!;
        }
        if (c === 1) for (let i = 0; i < n; i++) sourceIds[i] = tableIds[idx[i]!]!;
        cols.push(col);
        o += pad8(w * n);
      }
      const kind = toArray(new Uint8Array(ab, base + o, n)) as SampleKind[];
      o += pad8(n);
      // Fields in samples.ts' order: every batch then has one shape, and the code that reads them stays monomorphic.
      parts.push({ batch: { length: n, metric: cols[0]!, source: cols[1]!, value, ts, unit: cols[2]!, kind, tags: cols[3]!, owners: undefined, sourceIds: { generation: this.#tableGeneration, ids: sourceIds } }, receivedAt });
    }
    return parts;
  }
}

/** One self-contained frame (a dictionary of its own): for a single message, and for tests. */
export function encodeParts(parts: readonly BatchPart[]): Buffer {
  return new BatchEncoder().encode(parts);
}

/**
 * The parts of a frame read back by its sender, with the dictionary the encoder had after writing it
 * (BatchEncoder.dictionary, taken right after encode): whole batches with the samples the frame
 * carries. For the rare part an owner did not apply, so the sender keeps the frame it sent (external
 * memory) instead of the batch.
 */
export function recoverParts(frame: Buffer, dictionary: readonly string[]): BatchPart[] {
  if (frame.length < HEADER) throw corrupt('truncated');
  const before = (frame.readUInt8(17) & RESET) !== 0 ? 0 : frame.readUInt32LE(8);
  return new BatchDecoder(dictionary.slice(0, before)).decode(frame);
}

/** The parts of a self-contained frame (encodeParts). */
export function decodeParts(frame: Buffer): BatchPart[] {
  return new BatchDecoder().decode(frame);
}

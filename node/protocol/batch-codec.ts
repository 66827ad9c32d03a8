/**
 * Binary encoding of forwarded sample batches (worker → owner over the peer link).
 *
 * v8.serialize of a SampleBatch wrote every string of every sample again (~59 B per sample) and
 * cost ~1.2 µs per sample to serialize and deserialize; at the forwarded share of a stream load
 * that was a sixth of a worker's CPU. Here the strings of a frame go once into a table and each
 * sample carries indexes into it, with ts and value as raw float64 columns:
 *
 *   u32 magic+version | u32 part count | u32 string count | u8 index width (2 or 4) | pad to 4
 *   strings: count × (u32 byte length) then the UTF-8 bytes back to back, padded to 8
 *   per part: f64 receivedAt, u32 n, pad to 8, then f64 ts[n], f64 value[n], idx metric[n],
 *             idx source[n], idx unit[n], idx tags[n], u8 kind[n], each column padded to 8
 *
 * All numbers little-endian (the typed-array views assume a little-endian host, as x86 and arm64
 * are; the constructor refuses otherwise). Decoded batches share one string per distinct name,
 * so the owner's map lookups hash each name once per frame rather than once per sample.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { SampleBatch, SampleKind } from './samples.js';

export interface BatchPart {
  batch: SampleBatch;
  receivedAt: number;
}

const MAGIC = 0x46504231; // 'FPB1'

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('batch-codec needs a little-endian host');

const pad8 = (n: number): number => (n + 7) & ~7;

/** Index every distinct string of the parts' string columns. */
function stringTable(parts: readonly BatchPart[]): { table: string[]; index: Map<string, number> } {
  const index = new Map<string, number>();
  const table: string[] = [];
  const add = (col: readonly string[]): void => {
    let prev: string | undefined;
    for (const s of col) {
      if (s === prev) continue; // runs of one name (a source's metrics, empty units) skip the map
      prev = s;
      if (!index.has(s)) {
        index.set(s, table.length);
        table.push(s);
      }
    }
  };
  for (const { batch: b } of parts) {
    add(b.metric);
    add(b.source);
    add(b.unit);
    add(b.tags);
  }
  return { table, index };
}

export function encodeParts(parts: readonly BatchPart[]): Buffer {
  const { table, index } = stringTable(parts);
  const wide = table.length > 0xffff;
  const w = wide ? 4 : 2;
  const bytes = table.map((s) => Buffer.from(s, 'utf8'));
  let size = 16 + pad8(4 * table.length + bytes.reduce((a, b) => a + b.length, 0));
  for (const { batch: b } of parts) size += 16 + 16 * b.length + 4 * pad8(w * b.length) + pad8(b.length);
  const buf = Buffer.alloc(size); // never pooled: its own ArrayBuffer at offset 0, as the typed views need
  const ab = buf.buffer;
  const base = buf.byteOffset;
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(parts.length, 4);
  buf.writeUInt32LE(table.length, 8);
  buf.writeUInt8(w, 12);
  let o = 16;
  for (const b of bytes) {
    buf.writeUInt32LE(b.length, o);
    o += 4;
  }
  for (const b of bytes) o += b.copy(buf, o);
  o = pad8(o);
  for (const { batch: b, receivedAt } of parts) {
    const n = b.length;
    buf.writeDoubleLE(receivedAt, o);
    buf.writeUInt32LE(n, o + 8);
    o += 16;
    new Float64Array(ab, base + o, n).set(b.ts);
    o += 8 * n;
    new Float64Array(ab, base + o, n).set(b.value);
    o += 8 * n;
    for (const col of [b.metric, b.source, b.unit, b.tags]) {
      const idx = wide ? new Uint32Array(ab, base + o, n) : new Uint16Array(ab, base + o, n);
      let prev: string | undefined;
      let prevIdx = 0;
      for (let i = 0; i < n; i++) {
        const s = col[i]!;
        if (s !== prev) {
          prev = s;
          prevIdx = index.get(s)!;
        }
        idx[i] = prevIdx;
      }
      o += pad8(w * n);
    }
    new Uint8Array(ab, base + o, n).set(b.kind);
    o += pad8(n);
  }
  return buf;
}

const corrupt = (why: string): FleetPulseError => new FleetPulseError(ErrorCode.INTERNAL, `corrupt forwarded batch frame: ${why}`);

export function decodeParts(frame: Buffer): BatchPart[] {
  // The frame is a slice of a socket read at any offset: copy it to an aligned buffer once.
  let buf = frame;
  if (frame.byteOffset % 8 !== 0) {
    buf = Buffer.alloc(frame.length);
    frame.copy(buf);
  }
  if (buf.length < 16 || buf.readUInt32LE(0) !== MAGIC) throw corrupt('bad magic');
  const partCount = buf.readUInt32LE(4);
  const strings = buf.readUInt32LE(8);
  const w = buf.readUInt8(12);
  if (w !== 2 && w !== 4) throw corrupt('bad index width');
  const ab = buf.buffer;
  const base = buf.byteOffset;
  const need = (o: number, n: number): void => {
    if (o + n > buf.length) throw corrupt('truncated');
  };
  let o = 16;
  need(o, 4 * strings);
  const lens = new Array<number>(strings);
  for (let i = 0; i < strings; i++) lens[i] = buf.readUInt32LE(o + 4 * i);
  o += 4 * strings;
  const table = new Array<string>(strings);
  for (let i = 0; i < strings; i++) {
    need(o, lens[i]!);
    table[i] = buf.toString('utf8', o, o + lens[i]!);
    o += lens[i]!;
  }
  o = pad8(o);
  const parts: BatchPart[] = [];
  for (let p = 0; p < partCount; p++) {
    need(o, 16);
    const receivedAt = buf.readDoubleLE(o);
    const n = buf.readUInt32LE(o + 8);
    o += 16;
    need(o, 16 * n + 4 * pad8(w * n) + pad8(n));
    const ts = Array.from(new Float64Array(ab, base + o, n));
    o += 8 * n;
    const value = Array.from(new Float64Array(ab, base + o, n));
    o += 8 * n;
    const cols: string[][] = [];
    for (let c = 0; c < 4; c++) {
      const idx = w === 4 ? new Uint32Array(ab, base + o, n) : new Uint16Array(ab, base + o, n);
      const col = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const s = table[idx[i]!];
        if (s === undefined) throw corrupt('string index out of range');
        col[i] = s;
      }
      cols.push(col);
      o += pad8(w * n);
    }
    const kind = Array.from(new Uint8Array(ab, base + o, n)) as SampleKind[];
    o += pad8(n);
    parts.push({ batch: { length: n, ts, value, metric: cols[0]!, source: cols[1]!, unit: cols[2]!, tags: cols[3]!, kind }, receivedAt });
  }
  return parts;
}

/**
 * Which worker owns a source (memory mode: stores it; Redis mode: writes it): rendezvous (highest-random-weight) hashing of the
 * source over the live worker slots, with exactly the hash Caddy 2.6.2's `header` policy uses
 * (FNV-1a 32 of key + upstream dial address, highest wins; selectionpolicies.go hostByHashing).
 * So when Caddy hashes X-Source over the same healthy upstreams, it picks the owner itself and
 * nothing needs forwarding; when a worker leaves, only its sources move.
 */
import type { SampleBatch, SampleKind } from '../protocol/samples.js';

/** The dial address Caddy knows worker `slot` by (also used as the hash input in cluster mode). */
export function workerDial(slot: number, workerPort: number): string {
  return `127.0.0.${2 + slot}:${workerPort}`;
}

/** FNV-1a 32-bit over the UTF-8 bytes of `s` (Go's hash/fnv New32a). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
    } else {
      // Rare here (sources are ASCII by validation), but keep the UTF-8 contract exact.
      const bytes = Buffer.from(String.fromCodePoint(s.codePointAt(i)!), 'utf8');
      if (c >= 0xd800 && c <= 0xdbff) i++;
      for (c of bytes) h = Math.imul(h ^ c, 0x01000193);
    }
  }
  return h >>> 0;
}

export class Ownership {
  readonly #slots: readonly number[];
  readonly #dials: readonly string[];
  readonly #cache = new Map<string, number>();

  /** `slots`: live worker slots. */
  constructor(slots: readonly number[], workerPort: number) {
    this.#slots = [...slots].sort((a, b) => a - b);
    this.#dials = this.#slots.map((s) => workerDial(s, workerPort));
  }

  get slots(): readonly number[] {
    return this.#slots;
  }

  /** Owner slot of `key` (a source, or a stream id); -1 when no worker is live. */
  ownerOf(key: string): number {
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    let best = -1;
    let bestHash = -1;
    for (let i = 0; i < this.#slots.length; i++) {
      const h = fnv1a32(key + this.#dials[i]);
      // Caddy keeps the first upstream on ties (strictly greater wins).
      if (h > bestHash) {
        bestHash = h;
        best = this.#slots[i]!;
      }
    }
    // Bounded: sources are bounded by the series limit; stream ids by connections.
    if (this.#cache.size > 1_000_000) this.#cache.clear();
    this.#cache.set(key, best);
    return best;
  }
}

/** The owner slot of `key` under `own`, or undefined while no membership (or no live worker) is known. */
export function ownerUnder(own: Ownership | undefined, key: string): number | undefined {
  return own === undefined || own.slots.length === 0 ? undefined : own.ownerOf(key);
}

/**
 * Split a batch by owner slot; the common one-owner case returns the batch itself. Each sample's
 * owner is looked up once (per run of one source), then every part's columns are filled at their
 * final size: the push-as-you-go copy it replaces was most of the split's cost at batch 1000.
 */
export function splitByOwner(b: SampleBatch, own: Ownership): Map<number, SampleBatch> {
  const out = new Map<number, SampleBatch>();
  const n = b.length;
  if (n === 0) return out;
  if (own.slots.length === 1) {
    out.set(own.slots[0]!, b);
    return out;
  }
  const owners = new Int32Array(n);
  const counts = new Map<number, number>();
  let lastSource = b.source[0]!;
  let lastOwner = own.ownerOf(lastSource);
  let run = 0;
  for (let i = 0; i < n; i++) {
    const s = b.source[i]!;
    if (s !== lastSource) {
      lastSource = s;
      const o = own.ownerOf(s);
      if (o !== lastOwner) {
        counts.set(lastOwner, (counts.get(lastOwner) ?? 0) + run);
        lastOwner = o;
        run = 0;
      }
    }
    owners[i] = lastOwner;
    run++;
  }
  counts.set(lastOwner, (counts.get(lastOwner) ?? 0) + run);
  if (counts.size === 1) {
    out.set(lastOwner, b);
    return out;
  }
  // Slots are small integers: per-slot state in arrays indexed by slot.
  const parts: SampleBatch[] = [];
  const fill: number[] = [];
  for (const [slot, count] of counts) {
    const part: SampleBatch = {
      length: count, metric: new Array<string>(count), source: new Array<string>(count), value: new Array<number>(count),
      ts: new Array<number>(count), unit: new Array<string>(count), kind: new Array<SampleKind>(count), tags: new Array<string>(count),
    };
    parts[slot] = part;
    fill[slot] = 0;
    out.set(slot, part);
  }
  for (let i = 0; i < n; i++) {
    const slot = owners[i]!;
    const part = parts[slot]!;
    const j = fill[slot]!;
    fill[slot] = j + 1;
    part.metric[j] = b.metric[i]!;
    part.source[j] = b.source[i]!;
    part.value[j] = b.value[i]!;
    part.ts[j] = b.ts[i]!;
    part.unit[j] = b.unit[i]!;
    part.kind[j] = b.kind[i]!;
    part.tags[j] = b.tags[i]!;
  }
  return out;
}


/**
 * Which worker owns a source (memory mode: stores it; Redis mode: writes it): rendezvous (highest-random-weight) hashing of the
 * source over the live worker slots, with exactly the hash Caddy 2.6.2's `header` policy uses
 * (FNV-1a 32 of key + upstream dial address, highest wins; selectionpolicies.go hostByHashing).
 * So when Caddy hashes X-Source over the same healthy upstreams, it picks the owner itself and
 * nothing needs forwarding; when a worker leaves, only its sources move.
 */
import type { BatchView, SampleBatch } from '../protocol/samples.js';

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

/** `own` when it has a live worker, else undefined (no membership known yet, or none left). */
export function liveOwnership(own: Ownership | undefined): Ownership | undefined {
  return own !== undefined && own.slots.length > 0 ? own : undefined;
}

/**
 * Split a batch by owner slot, as views (no column is copied): the common one-owner case is the
 * whole batch, otherwise each owner gets the positions of its samples. Each sample's owner comes
 * from the batch's hints when they were made under `own` (the ingest fast path's), or is looked up
 * once per run of one source. Views rather than copies: a forwarded part is encoded straight from
 * the batch, and no second set of columns is built (the batch itself is kept until the owner
 * answers, for a re-split if it fails).
 */
export function splitByOwner(b: SampleBatch, own: Ownership): Map<number, BatchView> {
  const out = new Map<number, BatchView>();
  const n = b.length;
  if (n === 0) return out;
  if (own.slots.length === 1) {
    out.set(own.slots[0]!, { batch: b, index: undefined });
    return out;
  }
  // Slots are small integers: per-slot counts, indexes and fill positions in arrays indexed by slot.
  const counts: number[] = [];
  let owner = -1;
  let owners: Int32Array;
  if (b.owners !== undefined && b.owners.under === own) {
    owners = b.owners.slots;
    for (let i = 0; i < n; i++) {
      owner = owners[i]!;
      counts[owner] = (counts[owner] ?? 0) + 1;
    }
  } else {
    owners = new Int32Array(n);
    let lastSource: string | undefined;
    for (let i = 0; i < n; i++) {
      const s = b.source[i]!;
      if (s !== lastSource) {
        lastSource = s;
        owner = own.ownerOf(s);
      }
      owners[i] = owner;
      counts[owner] = (counts[owner] ?? 0) + 1;
    }
  }
  if (counts[owner] === n) {
    out.set(owner, { batch: b, index: undefined });
    return out;
  }
  const index: Int32Array[] = [];
  const fill: number[] = [];
  for (const slot of own.slots) {
    const count = counts[slot] ?? 0;
    if (count === 0) continue;
    index[slot] = new Int32Array(count);
    fill[slot] = 0;
    out.set(slot, { batch: b, index: index[slot] });
  }
  for (let i = 0; i < n; i++) {
    const slot = owners[i]!;
    index[slot]![fill[slot]!++] = i;
  }
  return out;
}

/**
 * What the live layer knows about the other workers, from their beats (serverSideEmit every
 * second; works the same over the cluster adapter and the Redis adapters, on one host or many):
 * - which rooms each worker's clients hold, so a worker emits only to rooms somebody watches;
 * - who leads: the live worker with the lowest slot (then host, then node id) computes `summary`
 *   and `cluster` once for everybody instead of N workers gathering the same answer N times.
 * Pure: the clock is passed in.
 */
import type { NodeBeat } from '../protocol/events.js';

/** A worker that missed this long of beats is gone (3 beats). */
export const BEAT_TTL_MS = 3500;
/** A worker leads only after it has heard one round of beats, so a restarted slot 0 does not
 * briefly double the summaries of the worker that led meanwhile. */
export const LEAD_AFTER_MS = 1500;

export interface NodeId {
  node: string;
  slot: number;
}

export class LiveMembership {
  readonly self: NodeId;
  readonly #startedAt: number;
  readonly #peers = new Map<string, { beat: NodeBeat; seenAt: number; rooms: Set<string> }>();
  #remoteRooms = new Map<string, number>();

  constructor(self: NodeId, now: number) {
    this.self = self;
    this.#startedAt = now;
  }

  onBeat(b: NodeBeat, now: number): void {
    if (b.node === this.self.node) return;
    const prev = this.#peers.get(b.node);
    this.#peers.set(b.node, { beat: b, seenAt: now, rooms: new Set(b.rooms) });
    if (prev === undefined || !sameRooms(prev.rooms, b.rooms)) this.#rebuild();
  }

  /** Drop workers that stopped beating; returns true when something changed. */
  expire(now: number): boolean {
    let changed = false;
    for (const [node, p] of this.#peers) {
      if (now - p.seenAt > BEAT_TTL_MS) {
        this.#peers.delete(node);
        changed = true;
      }
    }
    if (changed) this.#rebuild();
    return changed;
  }

  #rebuild(): void {
    const m = new Map<string, number>();
    for (const p of this.#peers.values()) for (const r of p.rooms) m.set(r, (m.get(r) ?? 0) + 1);
    this.#remoteRooms = m;
  }

  /** Does any other worker hold this room? */
  remoteHas(room: string): boolean {
    return this.#remoteRooms.has(room);
  }

  /** How many rooms other workers hold. */
  get remoteRoomCount(): number {
    return this.#remoteRooms.size;
  }

  /** Every room held anywhere else. */
  remoteRooms(): IterableIterator<string> {
    return this.#remoteRooms.keys();
  }

  /** Beats of the live peers (not this worker). */
  peers(now: number): NodeBeat[] {
    const out: NodeBeat[] = [];
    for (const p of this.#peers.values()) if (now - p.seenAt <= BEAT_TTL_MS) out.push(p.beat);
    return out;
  }

  isLeader(now: number): boolean {
    if (now - this.#startedAt < LEAD_AFTER_MS) return false;
    for (const p of this.#peers.values()) {
      if (now - p.seenAt > BEAT_TTL_MS) continue;
      if (before(p.beat, this.self)) return false;
    }
    return true;
  }
}

function before(a: NodeId, b: NodeId): boolean {
  return a.slot !== b.slot ? a.slot < b.slot : a.node < b.node;
}

function sameRooms(a: Set<string>, b: readonly string[]): boolean {
  if (a.size !== b.length) return false;
  for (const r of b) if (!a.has(r)) return false;
  return true;
}

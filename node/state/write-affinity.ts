/**
 * Redis mode with several workers: each source is written by one worker of the instance — its
 * owner by memory mode's rendezvous hash (ownership.ts) — and the other workers forward their part
 * of a batch to it over the peer links, as memory mode does.
 *
 * Why: a Redis-mode worker keeps and writes its own partial of every source it writes
 * (redis-partial.ts). With requests spread over N workers, every worker held a partial of every
 * source, so each source's ring heads moved — and wrote chunks — once per worker, and each worker's
 * cache of recent buckets covered the whole fleet: with 2 workers a sample cost 60% more worker CPU
 * and 65% more Redis CPU than with 1 (push probe, 1,000-sample requests of 100 sources), and
 * 2 workers ingested less than 1. Forwarding half of each request over a Unix socket costs far less.
 *
 * Nothing depends on it for correctness: partials of one source by several writers merge exactly
 * at read time, and another instance on the same Redis writes its own. So when the owner cannot be
 * reached at all (its link never connected: nothing was delivered), or there is no membership yet,
 * the part is written here. A part whose fate is unknown — the link broke after sending, the owner
 * did not answer in time — fails the request with STATE_UNAVAILABLE (503 + Retry-After), like a
 * Redis write that timed out: writing it again here could count it twice.
 * Reads, stream seqs and live updates are the inner store's (Redis).
 */
import { toFleetPulseError } from '../errors.js';
import { materialize, viewLength, type BatchView, type SampleBatch } from '../protocol/samples.js';
import type { ApplyArgs, ApplyResult, Forwarder } from '../worker/forwarder.js';
import { PeerUnreachableError } from '../worker/peer-link.js';
import { liveOwnership, Ownership, splitByOwner } from './ownership.js';
import { WriteWrapper, type StateStore } from './store.js';
import { IngestStage, ingestStages } from '../observability/stage-clock.js';

/** What the store needs of the worker's cluster membership (worker/peers.ts). */
export interface Membership {
  readonly slot: number;
  onMembers(cb: (slots: number[]) => void): void;
}

export interface WriteAffinityOptions {
  workerPort: number;
  /** Samples sent to another worker (counted when sent). */
  onForwarded: (samples: number) => void;
}

export class WriteAffinityStore extends WriteWrapper {
  readonly #slot: number;
  readonly #forwarder: Forwarder;
  readonly #opts: WriteAffinityOptions;
  #ownership: Ownership | undefined;

  constructor(inner: StateStore, members: Membership, forwarder: Forwarder, opts: WriteAffinityOptions) {
    super(inner);
    this.#slot = members.slot;
    this.#forwarder = forwarder;
    this.#opts = opts;
    members.onMembers((slots) => {
      this.#ownership = new Ownership(slots, opts.workerPort);
    });
  }

  /**
   * The current membership, which says the slot that writes each source (undefined until one with
   * a live worker is known); the ingest fast path hints owners under it.
   */
  ownership(): Ownership | undefined {
    return liveOwnership(this.#ownership);
  }

  async apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    const own = this.#ownership;
    if (own === undefined || own.slots.length < 2) return this.inner.apply(batch, receivedAt);
    const splitStarted = performance.now();
    const parts = splitByOwner(batch, own);
    ingestStages.add(IngestStage.ForwardEncode, splitStarted);
    const writes: Array<Promise<void>> = [];
    for (const [slot, part] of parts) {
      writes.push(slot === this.#slot ? this.inner.apply(materialize(part), receivedAt) : this.#forward(slot, part, receivedAt));
    }
    // Every part settles before the answer (the ack covers all of them); the first error wins.
    const results = await Promise.allSettled(writes);
    for (const r of results) if (r.status === 'rejected') throw toFleetPulseError(r.reason);
  }

  async #forward(slot: number, part: BatchView, receivedAt: number): Promise<void> {
    this.#opts.onForwarded(viewLength(part));
    try {
      await this.#forwarder.send(slot, part, receivedAt);
    } catch (err) {
      // Never delivered: the samples are still only ours to write.
      if (err instanceof PeerUnreachableError) return this.inner.apply(materialize(part), receivedAt);
      throw err;
    }
  }

  /** Parts a peer forwarded to this writer: each written (and answered) on its own. */
  async applyForwarded(args: ApplyArgs): Promise<ApplyResult> {
    return Promise.all(args.parts.map((p) => this.inner.apply(materialize(p), p.receivedAt).then(
      () => null,
      (err: unknown) => toFleetPulseError(err).toJSON(),
    )));
  }
}

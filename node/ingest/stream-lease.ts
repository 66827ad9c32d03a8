/**
 * Exactly-once bookkeeping of one named stream (`?stream=ID`) on one connection, with the two
 * never-lowering numbers the StateStore keeps per key (streamSeq/setStreamSeq):
 *
 * - `ID`       the highest applied seq (the resume point);
 * - `ID#lease` 2·t while a connection holds the stream until time t (ms), 2·t+1 once it released
 *              it at t. Both only grow: a renewal moves t forward, a release adds 1, the next
 *              holder's 2·t' is larger again.
 *
 * A connection takes the lease before its first apply and renews it so it always covers an apply
 * in flight (applyTimeoutMs + a margin); it records the applied seq at most every
 * RECORD_INTERVAL_MS while busy; and when it is done — socket closed and everything received applied, or idle for a
 * while — it records the final seq and *then* releases. A new connection for ID waits while the
 * lease is held (released, or expired: the holder died), then reads the applied seq: so a
 * reconnect that races the previous connection's in-flight apply, on this or another worker,
 * resumes exactly where it ended. Cost: about two store writes per 3 s per busy stream (a record
 * and a renewal), instead of two per message — at the 1 message/s of an idle-ish agent, per-second
 * records doubled the store traffic of every message. Only a holder that crashed leaves its last
 * seconds unrecorded: messages it applied but whose ack the client never saw may then be applied
 * again when re-sent (at-least-once on crash, bounded by the client's unacked window).
 */
import type { FleetPulseError } from '../errors.js';
import { toFleetPulseError } from '../errors.js';
import type { StateStore } from '../state/store.js';

/** Key of the lease record beside a stream's applied-seq record ('#' is not valid in stream ids). */
export const leaseKey = (streamId: string): string => `${streamId}#lease`;

/** A lease always covers applyTimeoutMs plus this, so clocks may disagree by up to this much. */
export const LEASE_MARGIN_MS = 2000;
/** How much longer than the minimum a lease is taken for (so it is renewed this often when busy). */
export const LEASE_RENEW_EVERY_MS = 6000;
/** Applied seqs are recorded at most this often while busy (the final one at release). */
export const RECORD_INTERVAL_MS = 3000;
/**
 * A stream with nothing to apply for this long releases its lease (a reconnect need not wait).
 * Above an idle-ish agent's 1 s cadence with jitter: releasing between its messages made every
 * message pay a blocking lease write. (A closed socket releases at once, whatever this is.)
 */
export const IDLE_RELEASE_MS = 5000;
const POLL_MS = 25;

export interface StreamLeaseOptions {
  applyTimeoutMs: number;
  now?: () => number;
  onRecordError(e: FleetPulseError): void;
  /** A previous holder's lease expired unreleased: its last unrecorded second may be re-applied. */
  onExpired(streamId: string, applied: number): void;
}

export class StreamLease {
  readonly #store: Pick<StateStore, 'streamSeq' | 'setStreamSeq'>;
  readonly #id: string;
  readonly #o: StreamLeaseOptions;
  readonly #now: () => number;
  /** Held until (ms); 0 = not held. */
  #heldUntil = 0;
  #applied = 0;
  #recorded = 0;
  #lastRecordAt = 0;
  /** The one store write in flight (records and lease writes are serialized). */
  #writing: Promise<void> = Promise.resolve();
  #recordTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #releasing: Promise<void> | undefined;
  /** A lease renewal in flight (hold() starts it early, in the background). */
  #renewal: Promise<void> | undefined;
  #closed = false;

  constructor(store: Pick<StateStore, 'streamSeq' | 'setStreamSeq'>, streamId: string, opts: StreamLeaseOptions) {
    this.#store = store;
    this.#id = streamId;
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  get #leaseMs(): number {
    return this.#o.applyTimeoutMs + LEASE_MARGIN_MS + LEASE_RENEW_EVERY_MS;
  }

  /**
   * Wait (bounded by one lease length) while another connection holds the stream, then return
   * its applied seq. `gone()` stops waiting when our own socket closed meanwhile.
   */
  async resume(gone: () => boolean): Promise<number> {
    const deadline = this.#now() + this.#leaseMs + 1000;
    for (;;) {
      const lease = await this.#store.streamSeq(leaseKey(this.#id));
      if (lease === 0 || lease % 2 === 1) break; // never held, or released
      if (lease / 2 <= this.#now()) {
        this.#o.onExpired(this.#id, await this.#store.streamSeq(this.#id));
        break;
      }
      if (gone() || this.#now() >= deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    // Read after the lease: the holder records its final seq before it releases.
    this.#applied = this.#recorded = await this.#store.streamSeq(this.#id);
    return this.#applied;
  }

  /**
   * Before each apply: hold a lease that outlasts it. Halfway through its spare time the lease is
   * renewed in the background (the current one still covers the apply), so a busy stream's
   * applies do not wait for the store's round trip; only a lease too short to cover an apply
   * (first use, or a renewal that failed) blocks.
   */
  async hold(): Promise<void> {
    this.#cancelIdle();
    // A release in progress finishes first (its marker must not land after our apply started).
    while (this.#releasing !== undefined) await this.#releasing;
    const need = this.#o.applyTimeoutMs + LEASE_MARGIN_MS;
    const left = this.#heldUntil - this.#now();
    if (left >= need) {
      if (left < need + LEASE_RENEW_EVERY_MS / 2 && this.#renewal === undefined) this.#renew().catch(() => {}); // a failure shows at the next blocking hold
      return;
    }
    if (this.#renewal !== undefined) await this.#renewal.catch(() => {});
    if (this.#heldUntil - this.#now() < need) await this.#renew();
  }

  /** Extend the lease to now + a full lease length; one renewal at a time. */
  #renew(): Promise<void> {
    const until = this.#now() + this.#leaseMs;
    const r = this.#write(leaseKey(this.#id), 2 * until)
      .then(() => {
        if (until > this.#heldUntil) this.#heldUntil = until;
      })
      .finally(() => {
        if (this.#renewal === r) this.#renewal = undefined;
      });
    this.#renewal = r;
    return r;
  }

  /** After an apply (in seq order): remember it; record at most once per RECORD_INTERVAL_MS. */
  applied(seq: number): void {
    if (seq > this.#applied) this.#applied = seq;
    if (this.#recordTimer !== undefined || this.#closed) return;
    const wait = Math.max(0, this.#lastRecordAt + RECORD_INTERVAL_MS - this.#now());
    this.#recordTimer = setTimeout(() => {
      this.#recordTimer = undefined;
      void this.#record();
    }, wait);
    this.#recordTimer.unref();
  }

  /** Nothing left to apply: release after IDLE_RELEASE_MS unless more work comes. */
  idle(): void {
    if (this.#closed || this.#heldUntil === 0 || this.#idleTimer !== undefined || this.#releasing !== undefined) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      void this.release(false);
    }, IDLE_RELEASE_MS);
    this.#idleTimer.unref();
  }

  /** Record the final applied seq, then release the lease. `final`: the connection is done. */
  release(final: boolean): Promise<void> {
    if (final) this.#closed = true;
    this.#cancelIdle();
    if (this.#recordTimer !== undefined) clearTimeout(this.#recordTimer);
    this.#recordTimer = undefined;
    if (this.#releasing !== undefined) return this.#releasing.then(() => (final ? this.release(true) : undefined));
    const run = async (): Promise<void> => {
      // A renewal in flight lands first, so the release marker is above the lease it wrote.
      if (this.#renewal !== undefined) await this.#renewal.catch(() => {});
      await this.#record();
      if (this.#heldUntil === 0) return;
      const until = this.#heldUntil;
      this.#heldUntil = 0;
      // If the release fails, the lease simply expires: a reconnect waits for that, nothing worse.
      await this.#write(leaseKey(this.#id), 2 * until + 1).catch(() => {});
    };
    const r = run().finally(() => {
      this.#releasing = undefined;
    });
    this.#releasing = r;
    return r;
  }

  /** Fatal error: stop timers; the lease is left to expire (an apply may be half done). */
  abandon(): void {
    this.#closed = true;
    this.#cancelIdle();
    if (this.#recordTimer !== undefined) clearTimeout(this.#recordTimer);
    this.#recordTimer = undefined;
  }

  async #record(): Promise<void> {
    const target = this.#applied;
    if (target <= this.#recorded) return;
    this.#lastRecordAt = this.#now();
    await this.#write(this.#id, target).then(
      () => {
        if (target > this.#recorded) this.#recorded = target;
      },
      (err: unknown) => this.#o.onRecordError(toFleetPulseError(err)),
    );
  }

  /** One write at a time, in call order (a lease renewal never overtakes a release). */
  #write(key: string, value: number): Promise<void> {
    const p = this.#writing.then(() => this.#store.setStreamSeq(key, value));
    this.#writing = p.catch(() => {});
    return p;
  }

  #cancelIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}

/**
 * Samples bound for other owner workers: everything forwarded to one slot within the same
 * event-loop turn travels as one message over the direct peer link (slot-batcher.ts), and each
 * request's part is applied (or fails) on its own, so one request's error never fails another's.
 *
 * While the owner works, the sender holds the frame it sent (external memory) and no view of the
 * request's batch: a request that waits keeps nothing on the JS heap for it. Batches kept across
 * that wait lived through scavenges and were promoted — ~6.5 MB per scavenge with two workers under
 * bench/peer's load, and ~15% more CPU per sample than without (ARCHITECTURE.md, "Forwarding").
 * A part that comes back unapplied is read back from that frame (deliver()).
 */
import { toFleetPulseError, type FleetPulseError, type WireError } from '../errors.js';
import type { BatchPart } from '../protocol/batch-codec.js';
import { materialize, viewLength, type BatchView, type SampleBatch } from '../protocol/samples.js';
import { SlotBatcher } from './slot-batcher.js';

/** Delivers coalesced parts to an owner worker (PeerLinks in production). */
export interface ApplyTransport {
  /**
   * `onSent` is called once the parts are encoded, with a way to read them back from what was sent
   * (in the order given); from then on the transport holds no reference to `args`.
   */
  apply(slot: number, args: ApplyArgs, timeoutMs: number, onSent?: (readBack: () => BatchPart[]) => void): Promise<ApplyResult>;
}

/**
 * What an owner receives: independent parts, each applied all-or-nothing. The sender's parts may
 * be views of its batches (BatchPart.index); the owner's, decoded, are whole batches.
 */
export interface ApplyArgs {
  parts: BatchPart[];
}
/** One entry per part: null = applied. */
export type ApplyResult = Array<WireError | null>;

/** A part the owner did not apply: why, and its samples (read back from the frame they went in). */
export interface Undelivered {
  error: FleetPulseError;
  samples(): SampleBatch;
}

/** One deliver() call: its part until the frame holds it, then how to read it back. */
interface Ticket {
  part: BatchPart | undefined;
  readBack: (() => SampleBatch) | undefined;
}

export class Forwarder {
  readonly #batcher: SlotBatcher<Ticket, null>;

  constructor(transport: ApplyTransport, timeoutMs: number, onBatchSent: (samples: number) => void) {
    this.#batcher = new SlotBatcher(
      (slot, tickets) => {
        const parts = tickets.map((t) => t.part!);
        return transport.apply(slot, { parts }, timeoutMs, (readBack) => {
          // The frame decodes once, for the first part asked for; every ticket lets its part go.
          let back: BatchPart[] | undefined;
          tickets.forEach((t, i) => {
            t.part = undefined;
            t.readBack = () => (back ??= readBack())[i]!.batch;
          });
        });
      },
      (_slot, tickets) => {
        let n = 0;
        for (const t of tickets) n += viewLength(t.part!);
        onBatchSent(n);
      },
    );
  }

  /** Resolves (with null) once the owner applied the view's samples; rejects with why not. */
  send(slot: number, part: BatchView, receivedAt: number): Promise<null> {
    return this.deliver(slot, part, receivedAt).then((u) => {
      if (u !== null) throw u.error;
      return null;
    });
  }

  /**
   * Resolves with null once the owner applied the view's samples, or with what came back unapplied
   * (never rejects). The returned promise holds no reference to the view's batch once it is sent.
   */
  deliver(slot: number, part: BatchView, receivedAt: number): Promise<Undelivered | null> {
    const ticket: Ticket = { part: { batch: part.batch, index: part.index, receivedAt }, readBack: undefined };
    return this.#batcher.submit(slot, ticket).then(
      () => null,
      (err: unknown) => {
        // Not sent at all (the transport failed before encoding): the part is still here.
        const kept = ticket.part;
        return { error: toFleetPulseError(err), samples: ticket.readBack ?? (() => materialize(kept!)) };
      },
    );
  }
}

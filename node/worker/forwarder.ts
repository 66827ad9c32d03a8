/**
 * Samples bound for other owner workers: everything forwarded to one slot within the same
 * event-loop turn travels as one message over the direct peer link (slot-batcher.ts), and each
 * request's part is applied (or fails) on its own, so one request's error never fails another's.
 */
import type { WireError } from '../errors.js';
import type { BatchPart } from '../protocol/batch-codec.js';
import { viewLength, type BatchView } from '../protocol/samples.js';
import { SlotBatcher } from './slot-batcher.js';

/** Delivers coalesced parts to an owner worker (PeerLinks in production). */
export interface ApplyTransport {
  apply(slot: number, args: ApplyArgs, timeoutMs: number): Promise<ApplyResult>;
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

export class Forwarder {
  readonly #batcher: SlotBatcher<BatchPart, null>;

  constructor(transport: ApplyTransport, timeoutMs: number, onBatchSent: (samples: number) => void) {
    this.#batcher = new SlotBatcher(
      (slot, parts) => transport.apply(slot, { parts }, timeoutMs),
      (_slot, parts) => {
        let n = 0;
        for (const p of parts) n += viewLength(p);
        onBatchSent(n);
      },
    );
  }

  /** Resolves (with null) once the owner applied the view's samples. */
  send(slot: number, part: BatchView, receivedAt: number): Promise<null> {
    return this.#batcher.submit(slot, { ...part, receivedAt });
  }
}

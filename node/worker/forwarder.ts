/**
 * Coalesces samples bound for other owner workers: everything forwarded to one slot within the
 * same event-loop turn travels as one message over the direct peer link, and each request's part
 * is applied (or fails) on its own, so one request's error never fails another's.
 */
import { FleetPulseError, type WireError } from '../errors.js';
import type { SampleBatch } from '../protocol/samples.js';

/** Delivers coalesced parts to an owner worker (PeerLinks in production). */
export interface ApplyTransport {
  apply(slot: number, args: ApplyArgs, timeoutMs: number): Promise<ApplyResult>;
}

/** What an owner receives: independent parts, each applied all-or-nothing. */
export interface ApplyArgs {
  parts: Array<{ batch: SampleBatch; receivedAt: number }>;
}
/** One entry per part: null = applied. */
export type ApplyResult = Array<WireError | null>;

interface Queue {
  parts: ApplyArgs['parts'];
  waiters: Array<{ resolve: () => void; reject: (e: FleetPulseError) => void }>;
}

export class Forwarder {
  readonly #transport: ApplyTransport;
  readonly #timeoutMs: number;
  readonly #queues = new Map<number, Queue>();
  #scheduled = false;
  readonly #onBatchSent: (samples: number) => void;

  constructor(transport: ApplyTransport, timeoutMs: number, onBatchSent: (samples: number) => void) {
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
    this.#onBatchSent = onBatchSent;
  }

  send(slot: number, batch: SampleBatch, receivedAt: number): Promise<void> {
    let q = this.#queues.get(slot);
    if (q === undefined) {
      q = { parts: [], waiters: [] };
      this.#queues.set(slot, q);
    }
    q.parts.push({ batch, receivedAt });
    const p = new Promise<void>((resolve, reject) => q.waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return p;
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [slot, q] of this.#queues) {
      let n = 0;
      for (const p of q.parts) n += p.batch.length;
      this.#onBatchSent(n);
      this.#transport.apply(slot, { parts: q.parts }, this.#timeoutMs).then(
        (results) => {
          q.waiters.forEach((w, i) => {
            const e = results[i];
            if (e === null || e === undefined) w.resolve();
            else w.reject(FleetPulseError.fromWire(e));
          });
        },
        (err: FleetPulseError) => {
          for (const w of q.waiters) w.reject(err);
        },
      );
    }
    this.#queues.clear();
  }
}

/**
 * Coalesces requests bound for other worker slots: everything submitted for one slot within the
 * same event-loop turn travels as one message, and each item is answered on its own (one item's
 * error never fails another's). Used for forwarded samples and for stream seq/lease operations,
 * which at 10,000 streams would otherwise cost one peer round trip (and syscall pair) each.
 */
import { ErrorCode, FleetPulseError, type WireError } from '../errors.js';

/** One answer per item, in order: a value, or the error of that item alone. */
export type SlotResults<V> = Array<V | WireError>;

/** Sends one slot's coalesced items; resolves with one answer per item, rejects if all failed. */
export type SlotSend<I, V> = (slot: number, items: I[]) => Promise<SlotResults<V>>;

interface Queue<I, V> {
  items: I[];
  waiters: Array<{ resolve: (v: V) => void; reject: (e: FleetPulseError) => void }>;
}

/** A wire error is the only object among answers (values are null, numbers or strings). */
export function isWireError(r: unknown): r is WireError {
  return typeof r === 'object' && r !== null;
}

export class SlotBatcher<I, V> {
  readonly #send: SlotSend<I, V>;
  readonly #onFlush: (slot: number, items: I[]) => void;
  readonly #queues = new Map<number, Queue<I, V>>();
  #scheduled = false;

  constructor(send: SlotSend<I, V>, onFlush: (slot: number, items: I[]) => void = () => {}) {
    this.#send = send;
    this.#onFlush = onFlush;
  }

  submit(slot: number, item: I): Promise<V> {
    let q = this.#queues.get(slot);
    if (q === undefined) {
      q = { items: [], waiters: [] };
      this.#queues.set(slot, q);
    }
    q.items.push(item);
    const p = new Promise<V>((resolve, reject) => q.waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return p;
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [slot, q] of this.#queues) {
      this.#onFlush(slot, q.items);
      this.#send(slot, q.items).then(
        (results) => {
          q.waiters.forEach((w, i) => {
            const r = results[i];
            if (isWireError(r)) w.reject(FleetPulseError.fromWire(r));
            else if (r === undefined) w.reject(new FleetPulseError(ErrorCode.INTERNAL, `worker ${slot} answered ${results.length} of ${q.items.length} items`));
            else w.resolve(r);
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

/**
 * The SampleSink between ingest and the state store: bounds the samples in flight per worker
 * (back-pressure is explicit: past the bound, submit() fails fast with OVERLOADED and ingest
 * answers 503/1013) and counts what it stores.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { SampleBatch } from '../protocol/samples.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../observability/logger.js';

export interface SampleSink {
  /** Resolves once the batch is in the state store; rejects OVERLOADED when shedding. */
  submit(batch: SampleBatch, receivedAt: number): Promise<void>;
  /** Samples accepted and not yet stored. */
  readonly pending: number;
}

export interface AggregatorHooks {
  onPendingChange?: (pending: number) => void;
  onShed?: (samples: number) => void;
  onStored?: (samples: number) => void;
  /** A batch's store.apply() settled after `seconds` (state-store lag; failures included). */
  onApplied?: (seconds: number, ok: boolean) => void;
}

export class Aggregator implements SampleSink {
  readonly #store: StateStore;
  readonly #maxPending: number;
  readonly #hooks: AggregatorHooks;
  readonly #log: Logger;
  #pending = 0;
  #shedding = false;
  /** Start time (ms) of each batch in flight, in start order: the first entry is the oldest. */
  readonly #inFlight = new Map<number, number>();
  #nextId = 0;

  constructor(store: StateStore, maxPending: number, log: Logger, hooks: AggregatorHooks = {}) {
    this.#store = store;
    this.#maxPending = maxPending;
    this.#log = log;
    this.#hooks = hooks;
  }

  get pending(): number {
    return this.#pending;
  }

  /** Age of the oldest batch not yet acknowledged by the store, ms (0 when none). */
  oldestPendingMs(now: number): number {
    for (const startedAt of this.#inFlight.values()) return Math.max(0, now - startedAt);
    return 0;
  }

  /** The batch is the store's once this returns: nothing here holds it while the store works (see worker/forwarder.ts). */
  submit(batch: SampleBatch, receivedAt: number): Promise<void> {
    const n = batch.length;
    if (this.#pending + n > this.#maxPending && this.#pending > 0) {
      this.#hooks.onShed?.(n);
      if (!this.#shedding) {
        this.#shedding = true;
        this.#log.warn({ code: ErrorCode.OVERLOADED, pending: this.#pending }, 'shedding ingest: too many samples waiting for the state store');
      }
      return Promise.reject(new FleetPulseError(ErrorCode.OVERLOADED, `worker overloaded: ${this.#pending} samples waiting for the state store`, { retryAfterS: 1 }));
    }
    if (this.#shedding && this.#pending < this.#maxPending / 2) {
      this.#shedding = false;
      this.#log.info('shedding stopped');
    }
    this.#pending += n;
    this.#hooks.onPendingChange?.(this.#pending);
    const id = this.#nextId++;
    const started = performance.now();
    this.#inFlight.set(id, Date.now());
    let applying: Promise<void>;
    try {
      applying = this.#store.apply(batch, receivedAt);
    } catch (err) {
      applying = Promise.reject(err);
    }
    return this.#settle(applying, n, id, started);
  }

  async #settle(applying: Promise<void>, n: number, id: number, started: number): Promise<void> {
    let ok = false;
    try {
      await applying;
      ok = true;
      this.#hooks.onStored?.(n);
    } finally {
      this.#inFlight.delete(id);
      this.#hooks.onApplied?.((performance.now() - started) / 1000, ok);
      this.#pending -= n;
      this.#hooks.onPendingChange?.(this.#pending);
    }
  }
}

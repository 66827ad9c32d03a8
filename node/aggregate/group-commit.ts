/**
 * Group commit (Redis mode): apply() calls arriving within one tick (state.commitIntervalMs) are
 * written to the store together — one pre-aggregated round trip per tick instead of one per
 * request — and each caller's promise settles with its own outcome once that write is confirmed,
 * so an ack (HTTP 2xx, stream ack) always means "in the store".
 *
 * Bounded by construction: a tick closes early at MAX_TICK_SAMPLES; at most MAX_IN_FLIGHT ticks
 * are being written at once (later applies gather into the next tick meanwhile, which only makes
 * it bigger); and the Aggregator in front bounds the samples waiting overall (OVERLOADED past
 * ingest.maxPendingSamples). While the store is not ready, apply() rejects at once: no offline
 * queue builds up during an outage.
 *
 * Reads, stream seqs and live updates pass straight through to the wrapped store.
 */
import { ErrorCode, FleetPulseError, toFleetPulseError } from '../errors.js';
import type { SampleBatch } from '../protocol/samples.js';
import { WriteWrapper, type StateStore } from '../state/store.js';

export interface CommitEntry {
  batch: SampleBatch;
  receivedAt: number;
}

/** A store that can write many applies in one round trip. */
export interface CommitWriter {
  /** Per entry (same order): null when stored, else why not. Must not throw. */
  commit(entries: readonly CommitEntry[]): Promise<Array<FleetPulseError | null>>;
}

export interface GroupCommitOptions {
  /** Tick length, ms (state.commitIntervalMs). */
  intervalMs: number;
  /** A tick closes as soon as it holds this many samples. @default 20000 */
  maxTickSamples?: number;
  /** Ticks written concurrently. @default 2 */
  maxInFlight?: number;
  /** A tick was written: its entries and samples, and whether the write failed. */
  onTick?: (entries: number, samples: number) => void;
}

interface Pending {
  entry: CommitEntry;
  resolve: () => void;
  reject: (err: FleetPulseError) => void;
}

export class GroupCommitStore extends WriteWrapper {
  /** The wrapped store, as the writer of ticks. */
  readonly #inner: StateStore & CommitWriter;
  readonly #intervalMs: number;
  readonly #maxTickSamples: number;
  readonly #maxInFlight: number;
  readonly #onTick: ((entries: number, samples: number) => void) | undefined;
  #tick: Pending[] = [];
  #tickSamples = 0;
  #timer: NodeJS.Timeout | undefined;
  #due = false;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #closed = false;

  constructor(inner: StateStore & CommitWriter, o: GroupCommitOptions) {
    super(inner);
    this.#inner = inner;
    this.#intervalMs = o.intervalMs;
    this.#maxTickSamples = o.maxTickSamples ?? 20_000;
    this.#maxInFlight = o.maxInFlight ?? 2;
    this.#onTick = o.onTick;
  }

  apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    if (this.#closed) return Promise.reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'state store is closing'));
    if (!this.#inner.ready()) return Promise.reject(new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'state store unavailable: redis is not connected', { retryAfterS: 1 }));
    if (batch.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#tick.push({ entry: { batch, receivedAt }, resolve, reject });
      this.#tickSamples += batch.length;
      if (this.#tickSamples >= this.#maxTickSamples) this.#markDue();
      else this.#timer ??= setTimeout(() => this.#markDue(), this.#intervalMs);
    });
  }

  #markDue(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = true;
    this.#flush();
  }

  /** Start writing the current tick if it is due and a write slot is free. */
  #flush(): void {
    if (!this.#due || this.#tick.length === 0 || this.#inFlight >= this.#maxInFlight) return;
    const tick = this.#tick;
    const samples = this.#tickSamples;
    this.#tick = [];
    this.#tickSamples = 0;
    this.#due = false;
    this.#inFlight++;
    this.#onTick?.(tick.length, samples);
    this.#inner.commit(tick.map((p) => p.entry)).then(
      (results) => tick.forEach((p, i) => (results[i] ? p.reject(results[i]!) : p.resolve())),
      (err: unknown) => {
        const e = toFleetPulseError(err);
        for (const p of tick) p.reject(e);
      },
    ).finally(() => {
      this.#inFlight--;
      // Whatever gathered while all slots were busy is overdue: write it now.
      if (this.#tick.length > 0 && this.#timer === undefined) this.#due = true;
      this.#flush();
      if (this.#inFlight === 0 && this.#tick.length === 0) for (const w of this.#idle.splice(0)) w();
    });
  }

  override ready(): boolean {
    return !this.#closed && this.#inner.ready();
  }

  /** Write what is gathered, wait for in-flight ticks, then close the wrapped store. */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#tick.length > 0 || this.#inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
      this.#markDue();
      await idle;
    }
    await this.#inner.close();
  }
}

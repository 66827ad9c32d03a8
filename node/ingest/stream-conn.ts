/**
 * One stream connection's state machine: admit decoded messages in seq order, apply them through
 * the SampleSink one group at a time, and send cumulative, throttled acks once applied.
 *
 * Invariants (what makes acks and exactly-once hold):
 * - Messages are applied strictly in arrival order, one group in flight at a time. Messages that
 *   arrive while a group is in flight coalesce into the next group (group commit per connection),
 *   so `processed` only moves forward over a gap-free prefix and an ack never overtakes an apply.
 * - `{"ack":n}` means every message with seq ≤ n is done: applied, recognised as a duplicate,
 *   or answered with an error frame.
 * - Named streams (`?stream=ID`) get exactly-once resume from stream-lease.ts: a lease held
 *   while applying, the applied seq recorded, a reconnect waiting for the previous holder to
 *   release. Everything received is applied even after the socket closed (then recorded and the
 *   lease released), so the next connection resumes exactly after it.
 * - Unacked samples per connection are bounded: past `maxUnackedSamples` the socket is paused
 *   (TCP back-pressure to the client); it resumes below half of that.
 */
import type { WebSocket } from 'ws';
import { ErrorCode, FleetPulseError, toFleetPulseError, wsCloseCodeOf } from '../errors.js';
import { concatBatches, type SampleBatch } from '../protocol/samples.js';
import type { DecodedMessage } from './stream-decode.js';
import { StreamLease } from './stream-lease.js';
import type { StreamContext } from './ws.js';

interface Entry {
  seq: number;
  /** Samples to apply; undefined for a message answered with an error. */
  batch: SampleBatch | undefined;
  /** Weight in the unacked bound (≥ 1 so a flood of empty/bad messages is bounded too). */
  weight: number;
  receivedAt: number;
  /** performance.now() at receipt, for the ack latency histogram. */
  t0: number;
  legacy: { sentAt: unknown } | undefined;
}

/** Ack frames are skipped (and coalesced into a later one) while this much is unsent to the peer. */
const ACK_BACKLOG_BYTES = 64 * 1024;

export class StreamConnection {
  readonly ws: WebSocket;
  readonly streamId: string | undefined;
  /** Heartbeat: set on pong/message, cleared by each ping round. */
  alive = true;
  readonly #ctx: StreamContext;
  #ready = false;
  #early: Array<{ d: DecodedMessage; receivedAt: number; t0: number; weight: number }> = [];
  #lastSeq = 0;
  #queue: Entry[] = [];
  #running = false;
  #processed = 0;
  #awaiting: Entry[] = [];
  #acked = 0;
  #forceAck = false;
  #unacked = 0;
  #sinceAck = 0;
  #lastAckAt = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  #flushing = false;
  #paused = false;
  /** Messages of this connection waiting for a later turn (turn-budget.ts). */
  #turnHeld = 0;
  /** Set while the key is over its rate limit (ws.ts): reading stopped, arriving messages held. */
  #throttle: NodeJS.Timeout | undefined;
  #throttleUntil = 0;
  #socketClosed = false;
  /** Set on a fatal error: nothing more is applied. */
  #failed = false;
  #finishing = false;
  readonly #lease: StreamLease | undefined;
  #settled: () => void = () => {};
  /** Resolves when nothing is queued or in flight any more after the socket closed. */
  readonly done: Promise<void>;

  constructor(ws: WebSocket, streamId: string | undefined, ctx: StreamContext) {
    this.ws = ws;
    this.streamId = streamId;
    this.#ctx = ctx;
    this.#lease =
      streamId === undefined
        ? undefined
        : new StreamLease(ctx.store, streamId, { applyTimeoutMs: ctx.applyTimeoutMs, onRecordError: ctx.onRecordError, onExpired: ctx.onLeaseExpired });
    this.done = new Promise((resolve) => (this.#settled = resolve));
  }

  /** Reading is stopped (unacked bound, rate limit, or work queued for a later turn): the peer's pongs cannot be read. */
  get pausedForBackpressure(): boolean {
    return this.#paused || this.#throttle !== undefined || this.#turnHeld > 0;
  }

  /** Nothing holds reading back (the pause reasons above, a closed socket, a draining server). */
  #canRead(): boolean {
    return !this.#paused && this.#throttle === undefined && this.#turnHeld === 0 && !this.#socketClosed && !this.#ctx.draining;
  }

  /**
   * A message of this connection waits for a later turn (turn-budget.ts): stop reading until every
   * waiting one ran, so what waits is bounded by one socket read.
   */
  holdForTurn(): void {
    if (this.#turnHeld++ === 0 && !this.#socketClosed) this.ws.pause();
  }

  releaseTurn(): void {
    if (--this.#turnHeld > 0) return;
    if (this.#canRead()) this.ws.resume();
    this.#checkIdle(); // a closed socket's last waiting message may have been this one
  }

  /**
   * The key is over its rate for `ms` more: stop reading, and hold (not apply) what still arrives
   * from the socket's buffers until then; say so once per pause (`rate_limited` without seq: a
   * notice, nothing was refused). Every held message already took its tokens, so a pause is
   * extended, never shortened, by the messages that arrive during it.
   */
  throttle(ms: number): void {
    if (this.#socketClosed) return;
    const until = Date.now() + ms;
    if (until <= this.#throttleUntil) return;
    this.#throttleUntil = until;
    if (this.#throttle === undefined) {
      this.ws.pause();
      this.ws.send(JSON.stringify({ error: { code: ErrorCode.RATE_LIMITED, message: `this key's rate limit is exceeded: reading paused for ${ms} ms (nothing was dropped)` }, retryAfterMs: ms }));
    } else clearTimeout(this.#throttle);
    this.#throttle = setTimeout(() => this.#endThrottle(), ms);
    this.#throttle.unref();
  }

  #endThrottle(): void {
    if (this.#throttle === undefined) return;
    clearTimeout(this.#throttle);
    this.#throttle = undefined;
    this.#throttleUntil = 0;
    if (this.#ready) this.#admitHeld();
    if (this.#canRead()) this.ws.resume();
  }

  /** Learn where a named stream stands, then start processing. */
  async start(): Promise<void> {
    try {
      if (this.#lease !== undefined) {
        const applied = await this.#lease.resume(() => this.#socketClosed);
        this.#lastSeq = this.#processed = applied;
      }
    } catch (err) {
      this.fail(toFleetPulseError(err));
      return;
    }
    this.#ready = true;
    // Tell a resuming client at once which messages it need not send again.
    if (this.#processed > 0) {
      this.#forceAck = true;
      this.#requestAck();
    }
    if (this.#throttle === undefined) this.#admitHeld();
    this.#checkIdle();
  }

  /** Admit what arrived before the stream was ready or while throttled, in order. */
  #admitHeld(): void {
    const early = this.#early;
    this.#early = [];
    for (const m of early) {
      // Counted again by #admit (or not at all if it turns out a duplicate).
      this.#unacked -= m.weight;
      this.#ctx.metrics.streamUnackedSamples.dec(m.weight);
      this.#admit(m.d, m.receivedAt, m.t0);
    }
  }

  /** A decoded message arrived. */
  onMessage(d: DecodedMessage, receivedAt: number, t0: number): void {
    if (this.#failed) return;
    this.alive = true;
    const weight = Math.max(1, d.batch?.length ?? 0);
    if (!this.#ready || this.#throttle !== undefined) {
      this.#early.push({ d, receivedAt, t0, weight });
      this.#addUnacked(weight);
      return;
    }
    this.#admit(d, receivedAt, t0);
  }

  #admit(d: DecodedMessage, receivedAt: number, t0: number): void {
    const m = this.#ctx.metrics;
    let seq: number;
    if (d.seq !== undefined) {
      if (d.seq <= this.#lastSeq) {
        // Already seen (applied before a reconnect, or in flight here): ack, never apply again.
        this.#count('duplicate');
        this.#forceAck = true;
        this.#requestAck();
        return;
      }
      seq = d.seq;
    } else if (this.streamId !== undefined) {
      this.#count('rejected');
      this.#sendError(undefined, d.error ?? new FleetPulseError(ErrorCode.INVALID_SAMPLE, 'messages of a named stream (?stream=ID) must carry an increasing seq', { field: 'seq' }));
      return;
    } else if (d.error !== undefined) {
      // Unreadable, so it may have carried a seq: give it none rather than guess.
      this.#count('rejected');
      this.#sendError(undefined, d.error);
      return;
    } else seq = this.#lastSeq + 1;
    this.#lastSeq = seq;
    if (d.error !== undefined) {
      this.#count('rejected');
      this.#sendError(seq, d.error);
    }
    const weight = Math.max(1, d.batch?.length ?? 0);
    this.#queue.push({ seq, batch: d.batch, weight, receivedAt, t0, legacy: d.batch === undefined ? undefined : d.legacy });
    this.#addUnacked(weight);
    void this.#run();
  }

  #addUnacked(n: number): void {
    this.#unacked += n;
    this.#ctx.metrics.streamUnackedSamples.inc(n);
    if (!this.#paused && this.#unacked > this.#ctx.cfg.maxUnackedSamples && !this.#socketClosed) {
      this.#paused = true;
      this.ws.pause();
      this.#ctx.metrics.streamPauses.inc();
    }
  }

  /** Apply queued groups one at a time, in order (the only writer of `#processed`). */
  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    let group: Entry[] = [];
    try {
      while (this.#queue.length > 0 && !this.#failed) {
        group = this.#queue;
        this.#queue = [];
        const batches: SampleBatch[] = [];
        for (const e of group) if (e.batch !== undefined) batches.push(e.batch);
        if (batches.length > 0) {
          await this.#lease?.hold();
          await this.#applyGroup(group, batches);
        }
        if (this.#failed) break;
        this.#processed = group[group.length - 1]!.seq;
        this.#lease?.applied(this.#processed);
        for (const e of group) {
          this.#awaiting.push(e);
          this.#sinceAck += e.weight;
        }
        this.#requestAck();
        group = [];
      }
    } catch (err) {
      this.fail(toFleetPulseError(err), group);
    } finally {
      this.#running = false;
      if (!this.#failed && !this.#socketClosed) this.#lease?.idle();
      this.#checkIdle();
    }
  }

  /**
   * Apply one group. A permanent per-sample error (series limit…) is isolated by re-applying the
   * group's messages one by one and answering only the failing ones; retryable trouble (the store
   * is down or overloaded past applyTimeoutMs) is fatal for the connection: close 1013 and let
   * the client resume from its last ack.
   */
  async #applyGroup(group: Entry[], batches: SampleBatch[]): Promise<void> {
    const receivedAt = group[group.length - 1]!.receivedAt;
    try {
      await this.#submit(concatBatches(batches), receivedAt);
      this.#countApplied(group);
    } catch (err) {
      const e = toFleetPulseError(err);
      if (e.retryable || e.code === ErrorCode.INTERNAL) throw e;
      for (const entry of group) {
        if (entry.batch === undefined) continue;
        try {
          if (batches.length > 1) await this.#submit(entry.batch, entry.receivedAt);
          else throw e;
          this.#countApplied([entry]);
        } catch (err2) {
          const e2 = toFleetPulseError(err2);
          if (e2.retryable || e2.code === ErrorCode.INTERNAL) throw e2;
          if (e2.code === ErrorCode.SERIES_LIMIT) this.#ctx.onSeriesLimit(entry.batch);
          this.#ctx.metrics.ingestSamples.inc({ transport: 'ws', result: 'failed' }, entry.batch.length);
          this.#count('rejected');
          this.#sendError(entry.seq, e2);
          entry.legacy = undefined;
        }
        // Settled either way: a later failure of this group must not count it again.
        entry.batch = undefined;
      }
    }
  }

  /** sink.submit, waiting out OVERLOADED (the socket stays paused meanwhile) up to applyTimeoutMs. */
  async #submit(batch: SampleBatch, receivedAt: number): Promise<void> {
    const deadline = Date.now() + this.#ctx.applyTimeoutMs;
    let delay = 10;
    for (;;) {
      try {
        await this.#ctx.sink.submit(batch, receivedAt);
        return;
      } catch (err) {
        const e = toFleetPulseError(err);
        if (e.code !== ErrorCode.OVERLOADED || Date.now() + delay > deadline) throw e;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 250);
      }
    }
  }

  #countApplied(entries: Entry[]): void {
    const m = this.#ctx.metrics;
    const now = performance.now();
    for (const e of entries) {
      if (e.batch === undefined) continue;
      m.ingestSamples.inc({ transport: 'ws', result: 'accepted' }, e.batch.length);
      this.#count('accepted');
      m.ingestDuration.observe({ transport: 'ws' }, (now - e.t0) / 1000);
    }
  }

  #count(result: 'accepted' | 'duplicate' | 'rejected'): void {
    this.#ctx.metrics.streamMessages.inc({ result });
    this.#ctx.metrics.ingestRequests.inc({ transport: 'ws', code: result === 'rejected' ? '4xx' : '2xx' });
  }

  /** Ack now if the last ack is ackIntervalMs old or ackEverySamples piled up, else soon. */
  #requestAck(): void {
    if (this.#flushing || this.#socketClosed) return;
    if (this.#processed <= this.#acked && !this.#forceAck) return;
    const wait = this.#lastAckAt + this.#ctx.cfg.ackIntervalMs - Date.now();
    if (wait <= 0 || this.#sinceAck >= this.#ctx.cfg.ackEverySamples) {
      if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
      void this.#flushAck();
    } else if (this.#ackTimer === undefined) {
      this.#ackTimer = setTimeout(() => {
        this.#ackTimer = undefined;
        void this.#flushAck();
      }, wait);
    }
  }

  /** Send `{"ack":n}` (+ the original project's acks) for everything processed so far. */
  async #flushAck(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    // Snapshot: groups applied while the record is in flight stay for the next ack.
    const target = this.#processed;
    const entries = this.#awaiting;
    this.#awaiting = [];
    try {
      if (!this.#socketClosed) {
        if (this.ws.bufferedAmount > ACK_BACKLOG_BYTES) {
          // The peer does not read its acks: keep them (and its unacked bound) until it does.
          this.#awaiting = entries.concat(this.#awaiting);
          setTimeout(() => this.#requestAck(), this.#ctx.cfg.ackIntervalMs).unref();
          return;
        }
        const ackTs = Date.now();
        for (const e of entries) {
          if (e.legacy !== undefined) this.ws.send(JSON.stringify({ ack_seq: e.seq, ack_ts: ackTs, sent_at: e.legacy.sentAt }));
        }
        this.ws.send(`{"ack":${target}}`);
        this.#ctx.metrics.streamAcks.inc();
      }
      if (target > this.#acked) this.#acked = target;
      this.#forceAck = false;
      this.#lastAckAt = Date.now();
      const now = performance.now();
      let released = 0;
      for (const e of entries) {
        released += e.weight;
        this.#ctx.metrics.streamAckLatency.observe((now - e.t0) / 1000);
      }
      this.#sinceAck = Math.max(0, this.#sinceAck - released);
      this.#release(released);
    } finally {
      this.#flushing = false;
    }
    if (this.#processed > this.#acked) this.#requestAck();
    this.#checkIdle();
  }

  #release(n: number): void {
    this.#unacked -= n;
    this.#ctx.metrics.streamUnackedSamples.dec(n);
    if (this.#paused && this.#unacked <= this.#ctx.cfg.maxUnackedSamples / 2 && !this.#ctx.draining) {
      this.#paused = false;
      if (this.#canRead()) this.ws.resume();
    }
  }

  #sendError(seq: number | undefined, e: FleetPulseError): void {
    if (this.#socketClosed) return;
    this.ws.send(JSON.stringify(seq === undefined ? { error: e.toJSON() } : { error: e.toJSON(), seq }));
  }

  /** Fatal: close with the error's close code; whatever was not applied is dropped (unacked). */
  fail(e: FleetPulseError, inFlight: Entry[] = []): void {
    if (this.#failed) return;
    this.#failed = true;
    const lost = [...inFlight, ...this.#queue, ...this.#early.map((m) => ({ batch: m.d.batch }))];
    if (lost.length > 0) {
      this.#ctx.metrics.streamMessages.inc({ result: 'dropped' }, lost.length);
      // Counted here (not by the sink): OVERLOADED was retried until applyTimeoutMs before this.
      const samples = lost.reduce((n, m) => n + (m.batch?.length ?? 0), 0);
      if (samples > 0) this.#ctx.metrics.ingestSamples.inc({ transport: 'ws', result: e.code === ErrorCode.OVERLOADED ? 'shed' : 'failed' }, samples);
    }
    this.#queue = [];
    this.#early = [];
    this.#lease?.abandon();
    this.#ctx.onFatal(this, e);
    if (!this.#socketClosed) this.ws.close(wsCloseCodeOf(e), closeReason(e.message));
    this.#checkIdle();
  }

  /** The socket closed: keep applying what was received (see the invariants), then settle. */
  onSocketClosed(): void {
    this.#socketClosed = true;
    // What was received is applied (the invariant above); its tokens are spent already.
    this.#endThrottle();
    if (this.#ackTimer !== undefined) {
      clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
    }
    this.#checkIdle();
  }

  /** Server shutdown: stop reading, finish what was received, ack it, close 1001. */
  async drainAndClose(): Promise<void> {
    if (!this.#socketClosed && !this.#paused) {
      this.#paused = true;
      this.ws.pause();
    }
    this.#endThrottle();
    while ((this.#running || this.#queue.length > 0 || this.#turnHeld > 0 || !this.#ready) && !this.#failed && !this.#socketClosed) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#processed > this.#acked) await this.#flushAck();
    await this.#lease?.release(true);
    if (!this.#socketClosed) this.ws.close(1001, 'server shutting down');
  }

  #checkIdle(): void {
    if (!this.#socketClosed || this.#finishing) return;
    if (this.#running || this.#flushing || this.#turnHeld > 0 || (this.#queue.length > 0 && !this.#failed)) return;
    this.#finishing = true;
    const leftover = this.#unacked;
    if (leftover !== 0) {
      this.#unacked = 0;
      this.#ctx.metrics.streamUnackedSamples.dec(leftover);
    }
    // Record what was applied and release, so a reconnect elsewhere resumes right after it.
    if (this.#lease !== undefined && !this.#failed) void this.#lease.release(true).then(this.#settled, this.#settled);
    else this.#settled();
  }
}

/** Close reasons are limited to 123 bytes (RFC 6455 §5.5). */
export function closeReason(message: string): string {
  let r = message.slice(0, 120);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

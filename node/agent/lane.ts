/**
 * A lane carries one simulated host's samples to FleetPulse (one WebSocket, or one HTTP request
 * at a time). The base class batches tick fragments into messages of at least `batch` samples
 * (or whatever is buffered after LINGER_MS), and bounds what waits to be sent: past
 * `maxPendingSamples` the oldest unsent message is dropped and counted, never buffered forever.
 */
import { LatencyRecorder } from './latency.js';

/** Counters every lane adds to; the agent prints and summarises them. */
export class AgentStats {
  sentMessages = 0;
  sentSamples = 0;
  ackedMessages = 0;
  ackedSamples = 0;
  /** Error frames, HTTP errors, failed connections. */
  errors = 0;
  readonly errorCodes = new Map<string, number>();
  reconnects = 0;
  /** Samples generated but never sent (backlog bound, or given up). */
  dropped = 0;
  /** Open stream connections (stream) / requests in flight (push). */
  open = 0;
  latency = new LatencyRecorder();
  /** A problem retrying cannot fix (bad key, frame too big); lanes stop. */
  fatal: string | undefined;

  error(code: string): void {
    this.errors++;
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
  }
}

export interface LaneOptions {
  source: string;
  /** Samples per message/request (at least; ticks are not split). */
  batch: number;
  /** Most samples sent and not yet acknowledged. */
  windowSamples: number;
  /** Most samples formed into messages but not sent yet (beyond: oldest dropped). */
  maxPendingSamples: number;
  stats: AgentStats;
  /** Called when the lane can take more (max-rate mode generates on demand). */
  onRoom?: (lane: Lane) => void;
}

export interface PendingMessage {
  parts: string[];
  samples: number;
}

/** A partial batch is sent after at most this long. */
export const LINGER_MS = 1000;

export abstract class Lane {
  readonly source: string;
  protected readonly opts: LaneOptions;
  protected readonly stats: AgentStats;
  protected pending: PendingMessage[] = [];
  protected pendingSamples = 0;
  #buf: string[] = [];
  #bufSamples = 0;
  #bufSince = 0;
  protected stopping = false;

  constructor(opts: LaneOptions) {
    this.source = opts.source;
    this.opts = opts;
    this.stats = opts.stats;
  }

  /** Add one tick's fragments; a full batch becomes a message. */
  offer(fragments: string[], samples: number, now: number): void {
    if (this.#bufSamples === 0) this.#bufSince = now;
    for (const f of fragments) this.#buf.push(f);
    this.#bufSamples += samples;
    if (this.#bufSamples >= this.opts.batch) this.flush();
  }

  /** Turn what is buffered into a message (linger expiry, shutdown). */
  flush(): void {
    if (this.#bufSamples === 0) return;
    this.pending.push({ parts: this.#buf, samples: this.#bufSamples });
    this.pendingSamples += this.#bufSamples;
    this.#buf = [];
    this.#bufSamples = 0;
    while (this.pendingSamples > this.opts.maxPendingSamples && this.pending.length > 1) {
      const old = this.pending.shift()!;
      this.pendingSamples -= old.samples;
      this.stats.dropped += old.samples;
    }
    this.pump();
  }

  /** Flush a partial batch older than LINGER_MS. */
  linger(now: number): void {
    if (this.#bufSamples > 0 && now - this.#bufSince >= LINGER_MS) this.flush();
  }

  /** Max-rate mode: may the agent generate another tick for this lane now? */
  get hasRoom(): boolean {
    return !this.stopping && this.pending.length === 0 && this.inFlightSamples + this.#bufSamples < this.opts.windowSamples;
  }

  /** Nothing buffered, pending or unacknowledged. */
  get idle(): boolean {
    return this.#bufSamples === 0 && this.pending.length === 0 && this.inFlightSamples === 0;
  }

  protected takePending(): PendingMessage | undefined {
    const m = this.pending.shift();
    if (m !== undefined) this.pendingSamples -= m.samples;
    return m;
  }

  /** Samples sent and not acknowledged yet. */
  abstract get inFlightSamples(): number;
  /** Send what the window allows. */
  abstract pump(): void;
  /** Stop: no more reconnects/retries after `close`; resolves once closed. */
  abstract close(): Promise<void>;

  /** Give up on everything not yet acknowledged (drain timeout). */
  abandon(): void {
    this.stopping = true;
    this.stats.dropped += this.pendingSamples + this.#bufSamples;
    this.pending = [];
    this.pendingSamples = 0;
    this.#buf = [];
    this.#bufSamples = 0;
  }
}

/**
 * Bounds the handshakes in progress across the fleet: a thousand simultaneous connects overflow a
 * server's accept backlog (511 by default in Node), and the dropped SYNs are only retried after
 * 1, 3, 7 s — slower than opening them a hundred at a time.
 */
export class ConnectGate {
  readonly #max: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Run `open` when a slot is free; the caller calls the returned release once the handshake ended. */
  acquire(open: (release: () => void) => void): void {
    const run = (): void => {
      this.#active++;
      let released = false;
      open(() => {
        if (released) return;
        released = true;
        this.#active--;
        this.#waiting.shift()?.();
      });
    };
    if (this.#active < this.#max) run();
    else this.#waiting.push(run);
  }
}

/** Reconnect/retry delay: exponential from 100 ms to 5 s, with jitter so a fleet does not stampede. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.5 + Math.random() * 0.5));
}

/**
 * Per-key ingest rate limit in samples/s (auth.rateLimit): one token bucket per key id.
 *
 * Semantics (docs/limits.md): the bucket holds at most one second's worth of tokens and refills
 * continuously. A batch of n samples passes when the bucket holds min(n, capacity) tokens, and
 * then takes all n — the bucket may go into debt, so a batch larger than a second's worth still
 * passes once (nothing is unsendable) while the long-run rate stays exact: the debt is paid back
 * before the next batch of that key passes. A refused batch takes nothing and learns how long to
 * wait (Retry-After).
 *
 * Enforced per worker, on what that worker receives (see docs/limits.md for why not a share or
 * a cluster-wide counter). Keys come from the configured lists (or the one anonymous id), so the
 * map of buckets is bounded by the configuration, not by clients.
 */

export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #capacity: number;
  #tokens: number;
  #at: number;

  constructor(ratePerS: number, now: number) {
    this.#ratePerMs = ratePerS / 1000;
    this.#capacity = Math.max(1, ratePerS);
    this.#tokens = this.#capacity;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#ratePerMs);
      this.#at = now;
    }
  }

  /** Take `n` tokens: 0 when granted, else the ms to wait until min(n, capacity) are there. */
  take(n: number, now: number): number {
    this.#refill(now);
    const need = Math.min(n, this.#capacity);
    if (this.#tokens >= need) {
      this.#tokens -= n;
      return 0;
    }
    return Math.ceil((need - this.#tokens) / this.#ratePerMs);
  }

  /**
   * Take `n` tokens whatever the balance (a stream message already read is never refused, its
   * connection is slowed instead): the ms until the bucket is out of debt again, 0 if it is not.
   */
  consume(n: number, now: number): number {
    this.#refill(now);
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens / this.#ratePerMs);
  }

  /** Ms until the bucket is out of debt (0 = a batch of one would pass now). Takes nothing. */
  blockedFor(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }

  /** Full and idle: safe to forget (a new bucket starts full too). */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#capacity;
  }
}

export class RateLimiter {
  readonly #ratePerS: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, TokenBucket>();
  #lastPrune = 0;

  /** `ratePerS` > 0; `now` in ms (monotonic by default). */
  constructor(ratePerS: number, now: () => number = () => performance.now()) {
    this.#ratePerS = ratePerS;
    this.#now = now;
  }

  #bucket(id: string, now: number): TokenBucket {
    let b = this.#buckets.get(id);
    if (b === undefined) {
      b = new TokenBucket(this.#ratePerS, now);
      this.#buckets.set(id, b);
    }
    return b;
  }

  /** Take `n` samples' tokens for key `id`: 0 when granted, else ms to wait (nothing taken). */
  take(id: string, n: number): number {
    const now = this.#now();
    this.#prune(now);
    return this.#bucket(id, now).take(n, now);
  }

  /** Take `n` samples' tokens for key `id` even into debt: ms until it is out of debt (0 = not in debt). */
  consume(id: string, n: number): number {
    const now = this.#now();
    this.#prune(now);
    return this.#bucket(id, now).consume(n, now);
  }

  /** Ms until key `id` may send again (0 = now); a cheap check before reading a body. */
  blockedFor(id: string): number {
    const b = this.#buckets.get(id);
    return b === undefined ? 0 : b.blockedFor(this.#now());
  }

  /** Buckets held (tests: bounded by the keys in use). */
  get size(): number {
    return this.#buckets.size;
  }

  #prune(now: number): void {
    if (now - this.#lastPrune < 60_000) return;
    this.#lastPrune = now;
    for (const [id, b] of this.#buckets) if (b.full(now)) this.#buckets.delete(id);
  }
}

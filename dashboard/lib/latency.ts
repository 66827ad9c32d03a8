/**
 * Sample-to-screen latency, measured in the browser: clock offset to the server (NTP-style from
 * `time` round trips, keeping the one with the smallest round trip), and a bounded batch of
 * measurements sent a few times a minute. Pure.
 */

export class ClockOffset {
  #best: { rtt: number; offset: number; at: number } | undefined;

  /** One round trip: client send time, the server's clock, client receive time (ms). */
  add(sentAt: number, serverNow: number, receivedAt: number): void {
    const rtt = receivedAt - sentAt;
    if (rtt < 0) return;
    const offset = serverNow - (sentAt + receivedAt) / 2;
    // Prefer the tightest round trip, but let an old one age out (clocks drift).
    if (this.#best === undefined || rtt <= this.#best.rtt || receivedAt - this.#best.at > 5 * 60_000) this.#best = { rtt, offset, at: receivedAt };
  }

  /** Server clock − client clock, ms (0 until the first round trip). */
  get offsetMs(): number {
    return this.#best?.offset ?? 0;
  }

  get known(): boolean {
    return this.#best !== undefined;
  }
}

/** Keeps at most `max` values between reports (a uniform reservoir sample when there are more). */
export class LatencyBatch {
  readonly #max: number;
  readonly #random: () => number;
  #values: number[] = [];
  #seen = 0;

  constructor(max = 200, random: () => number = Math.random) {
    this.#max = max;
    this.#random = random;
  }

  add(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    this.#seen++;
    if (this.#values.length < this.#max) this.#values.push(seconds);
    else {
      const j = Math.floor(this.#random() * this.#seen);
      if (j < this.#max) this.#values[j] = seconds;
    }
  }

  drain(): number[] {
    const v = this.#values;
    this.#values = [];
    this.#seen = 0;
    return v;
  }

  get size(): number {
    return this.#values.length;
  }
}

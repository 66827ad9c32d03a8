/**
 * A latency histogram over the last minute (six 10 s slots), for the Cluster view. Prometheus
 * histograms are cumulative since start; a screen wants "now". Mergeable across workers by adding
 * counts bucket by bucket (same bounds everywhere).
 */

/**
 * Upper bounds in seconds; counts carry one more bucket at the end for +Inf. 0.15, 0.2 and 0.3 are
 * bounds so that the live targets — sample-to-broadcast ≤ live.flushMs + 50 ms at flushMs 100 and
 * 250, sample-to-screen ≤ 200 ms — read as exact shares instead of quantiles interpolated across
 * 100–250 ms. Shared with the Prometheus histograms (observability/metrics.ts).
 */
export const LIVE_LATENCY_BOUNDS = [0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10] as const;

const SLOT_MS = 10_000;
const SLOTS = 6;

export class RollingHistogram {
  readonly #counts: Float64Array[] = [];
  readonly #sums = new Float64Array(SLOTS);
  readonly #slotStart = new Float64Array(SLOTS).fill(-1);

  constructor() {
    for (let i = 0; i < SLOTS; i++) this.#counts.push(new Float64Array(LIVE_LATENCY_BOUNDS.length + 1));
  }

  #slot(now: number): number {
    const start = Math.floor(now / SLOT_MS) * SLOT_MS;
    const i = Math.floor(start / SLOT_MS) % SLOTS;
    if (this.#slotStart[i] !== start) {
      this.#slotStart[i] = start;
      this.#counts[i]!.fill(0);
      this.#sums[i] = 0;
    }
    return i;
  }

  observe(seconds: number, now: number): void {
    const i = this.#slot(now);
    let b = 0;
    while (b < LIVE_LATENCY_BOUNDS.length && seconds > LIVE_LATENCY_BOUNDS[b]!) b++;
    this.#counts[i]![b]!++;
    this.#sums[i]! += seconds;
  }

  /** Per-bucket counts (not cumulative) and the sum over the last minute. */
  snapshot(now: number): { counts: number[]; sum: number } {
    const counts = new Array<number>(LIVE_LATENCY_BOUNDS.length + 1).fill(0);
    let sum = 0;
    const oldest = Math.floor(now / SLOT_MS) * SLOT_MS - (SLOTS - 1) * SLOT_MS;
    for (let i = 0; i < SLOTS; i++) {
      if (this.#slotStart[i]! < oldest) continue;
      const c = this.#counts[i]!;
      for (let b = 0; b < c.length; b++) counts[b]! += c[b]!;
      sum += this.#sums[i]!;
    }
    return { counts, sum };
  }
}

/** Add per-bucket counts of several workers (arrays of equal length; shorter ones are padded). */
export function addCounts(into: number[], more: readonly number[]): number[] {
  for (let i = 0; i < more.length; i++) into[i] = (into[i] ?? 0) + (more[i] ?? 0);
  return into;
}

/**
 * A bound on the ingest work one event-loop iteration (a "turn") does.
 *
 * Since libuv 1.45 (Node 20) a listening socket accepts one connection per iteration, so the
 * accept rate of a worker is 1 / (iteration length). Under a flood every ready socket's messages
 * were decoded and applied inline, one iteration took ~250 ms with 300 busy streams, and a new
 * connection waited ~10 s for its first byte (ARCHITECTURE.md, "Stream ingest"). Here, once a
 * turn has spent `budgetMs`, further work is queued (FIFO, so every connection's order holds) and
 * run from the check phase in slices of `budgetMs`; the caller stops reading the sources of queued
 * work meanwhile, so the queue stays bounded by what one socket read can hold. A turn is then about
 * one slice long whatever the load, and the loop gets back to polling — accepting, timers — often.
 * Opt-in (`ingest.turnBudgetMs`): it costs throughput and ack latency where it engages (measured
 * in ARCHITECTURE.md).
 */
export interface TurnBudgetOptions {
  budgetMs: number;
  /** Monotonic ms (tests). */
  now?: () => number;
}

export class TurnBudget {
  readonly #budgetMs: number;
  readonly #now: () => number;
  /** When the current turn's first work started; undefined while no turn is open. */
  #turnStart: number | undefined;
  #queue: Array<() => void> = [];
  #head = 0;
  #drainScheduled = false;

  constructor(o: TurnBudgetOptions) {
    this.#budgetMs = o.budgetMs;
    this.#now = o.now ?? (() => performance.now());
  }

  /** Work waiting for a later slice. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Run `work` now if this turn has budget left and nothing is queued before it; otherwise queue
   * it behind what is (returns false: the caller should stop reading its source until it ran).
   */
  run(work: () => void): boolean {
    if (this.queued === 0 && this.#spend()) {
      work();
      return true;
    }
    this.#queue.push(work);
    this.#scheduleDrain();
    return false;
  }

  /** Opens a turn on its first work (closed in this iteration's check phase); true while within budget. */
  #spend(): boolean {
    const now = this.#now();
    if (this.#turnStart === undefined) {
      this.#turnStart = now;
      this.#scheduleDrain();
      return true;
    }
    return now - this.#turnStart < this.#budgetMs;
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => this.#drain());
  }

  /** Check phase: the turn ends; run queued work for one slice, and continue next iteration if some is left. */
  #drain(): void {
    this.#drainScheduled = false;
    const start = this.#now();
    this.#turnStart = start;
    try {
      while (this.queued > 0 && this.#now() - start < this.#budgetMs) {
        const work = this.#queue[this.#head]!;
        this.#queue[this.#head++] = NOOP; // let it be collected
        work();
      }
    } finally {
      if (this.queued === 0) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      // The slice was this iteration's work; the next poll phase starts a new turn.
      this.#turnStart = undefined;
      if (this.queued > 0) this.#scheduleDrain();
    }
  }
}

const NOOP = (): void => {};

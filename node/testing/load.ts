/** Bounded request loops for load, failover and scaling tests (and small benches). */

/** Run `fn(i)` for i in [0, count) with at most `concurrency` in flight; resolves when all settled. */
export async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Run `fn(i)` on `concurrency` lanes until `stop()` is true; resolves with the number of calls. */
export async function loop(concurrency: number, stop: () => boolean, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (!stop()) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return next;
}

/** Counts of outcomes by label ("202", "502", "error: ECONNRESET", "timeout"…). */
export class Outcomes {
  readonly counts = new Map<string, number>();
  add(label: string): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
  count(pred: (label: string) => boolean): number {
    let n = 0;
    for (const [l, c] of this.counts) if (pred(l)) n += c;
    return n;
  }
  toString(): string {
    return JSON.stringify(Object.fromEntries([...this.counts].sort()));
  }
}

/**
 * Where a worker's ingest CPU goes, stage by stage: the synchronous sections of the ingest path
 * (decoding a body or message into a batch, applying samples to the partition, encoding and
 * decoding forwarded frames), timed with performance.now() around each batch or frame. A section
 * runs without yielding, so its elapsed time is this thread's CPU time unless the OS preempted it
 * there: on a machine with more runnable threads than cores that happens often, and the time other
 * processes ran then counts too (bench/peer, 2 workers and the generator on 2 cores: the workers'
 * main threads were on a CPU about 60% of the time they were runnable; it scales the stages by that
 * share, from /proc/<pid>/task/<pid>/schedstat). A CPU clock per section (process.cpuUsage(), 2.5 µs
 * a call) would cost more than the split by stage is worth on the hot path.
 * Exported as `fleetpulse_ingest_stage_seconds_total{stage}`.
 *
 * Why: a profiler attributes time to functions, and inlining differs from run to run; the
 * question an operator (and bench/peer) asks is per stage — what decoding a sample costs, what
 * forwarding adds. Divided by the samples of the same window this gives CPU per sample per stage,
 * and what is left of the worker's CPU (HTTP, the event loop, GC, the kernel) is everything else.
 * Two clock reads per batch or frame, never per sample; plain numbers, read at scrape time.
 */

export const IngestStage = { Decode: 0, Apply: 1, ForwardEncode: 2, ForwardDecode: 3 } as const;
export type IngestStage = (typeof IngestStage)[keyof typeof IngestStage];

/** Label values, by stage. */
export const ingestStageNames = ['decode', 'apply', 'forward_encode', 'forward_decode'] as const;

export class StageClock {
  readonly #ms = new Float64Array(ingestStageNames.length);

  /** Add the time since `startedMs` (a performance.now() reading) to `stage`. */
  add(stage: IngestStage, startedMs: number): void {
    this.#ms[stage]! += performance.now() - startedMs;
  }

  /** Seconds spent in `stage` since the process started. */
  seconds(stage: IngestStage): number {
    return this.#ms[stage]! / 1000;
  }
}

/** This process's ingest stages (one clock per process, like its string interner). */
export const ingestStages = new StageClock();

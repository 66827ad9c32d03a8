/**
 * Node flags the primary starts its workers with: the primary's own, plus the defaults below for
 * any the operator did not set (on the command line, or in NODE_OPTIONS, which reaches the workers
 * by itself — Node allows the semi-space size there, not the inlining budgets).
 */

/**
 * Young-generation size of the workers, MiB per semi-space (V8's default on 64-bit: 16; the space
 * starts small and grows only under allocation pressure, so an idle worker's RSS is unchanged). Ingest allocates
 * short-lived objects per message (parsed JSON, batches, promises); with 16 MiB the scavenger ran
 * so often that 10,000 streams at 1 message/s spent 13% of worker time in GC, and objects still in
 * flight got promoted to the old generation. 32 MiB: 8%, and the idle share of a profiled worker
 * rose from 15% to 29–36% at the same load; it costs at most 2 × 16 MiB more RSS per worker.
 */
export const WORKER_SEMI_SPACE_MIB = 32;

/**
 * TurboFan's inlining budgets, bytes of bytecode (V8's defaults: 460 per function, 920 in all per
 * optimized function). The ingest scanner's per-sample loop (ingest/fast-scan.ts) calls its key,
 * number and name-table helpers once per field; with the defaults the budget ran out part way
 * through and every call left out cost a frame and reloaded the buffer: the scanner took 1.38× the
 * time per sample (bench/peer's bodies, in-process, alternated runs), and the stage clock's `decode`
 * 1.15× under bench/peer's load with 2 workers. Larger budgets cost compile time once and some code space.
 */
export const WORKER_INLINED_BYTECODE_SIZE = 1200;
export const WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE = 5000;

/**
 * V8's garbage collector on the worker's own thread only, when the workers alone fill the machine's
 * cores (the default: one per core). V8 scavenges in parallel with helper threads and marks and
 * sweeps concurrently on them; with a worker on every core a helper can only run by preempting
 * another worker, and a scavenge whose helper was descheduled holding a share of the work waits for
 * it: under bench/peer's load with 2 workers on 2 cores, scavenges that promoted 50 KB took up to
 * 33 ms (--trace-gc-nvp: the parallel phase), and the workers' helper threads used 150–300 ns of CPU
 * per sample against 10–70 with one worker. With single-threaded GC (alternated rounds, 2 workers,
 * bench/peer's bodies): samples/s +13% and +20%, CPU per sample −7% and −19%. With spare cores the
 * helpers run on them, so fewer workers than cores keep V8's default.
 */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

const DEFAULTS: ReadonlyArray<readonly [flag: string, value: number]> = [
  ['--max-semi-space-size', WORKER_SEMI_SPACE_MIB],
  ['--max-inlined-bytecode-size', WORKER_INLINED_BYTECODE_SIZE],
  ['--max-inlined-bytecode-size-cumulative', WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE],
];

/** Flags that choose how V8 threads its GC: any of them given, the single-threaded default is not added. */
const GC_THREADING = ['--single-threaded-gc', '--single-threaded', '--parallel-scavenge', '--concurrent-marking'];

/** How many workers run, and on how many cores (availableParallelism()). */
export interface WorkerPlacement {
  workers: number;
  cores: number;
}

/** V8 takes `-` and `_` alike in flag names, and `--no-x` turns `--x` off. */
const named = (flag: string): RegExp => new RegExp(`^--(no[-_])?${flag.slice(2).replace(/[-_]/g, '[-_]')}(=|$)`);

/** The workers' Node flags: the primary's own, plus each default the operator did not set. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined, placement: WorkerPlacement): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  const isGiven = (flag: string): boolean => given.some((a) => named(flag).test(a));
  const out = [...execArgv];
  for (const [flag, value] of DEFAULTS) if (!isGiven(flag)) out.push(`${flag}=${value}`);
  if (placement.workers >= placement.cores && !GC_THREADING.some(isGiven)) out.push(SINGLE_THREADED_GC);
  return out;
}

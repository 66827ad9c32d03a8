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

const DEFAULTS: ReadonlyArray<readonly [flag: string, value: number]> = [
  ['--max-semi-space-size', WORKER_SEMI_SPACE_MIB],
  ['--max-inlined-bytecode-size', WORKER_INLINED_BYTECODE_SIZE],
  ['--max-inlined-bytecode-size-cumulative', WORKER_INLINED_BYTECODE_SIZE_CUMULATIVE],
];

/** The workers' Node flags: the primary's own, plus each default the operator did not set. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  const out = [...execArgv];
  for (const [flag, value] of DEFAULTS) {
    // V8 takes `-` and `_` alike in flag names.
    const name = new RegExp(`^${flag.replace(/[-_]/g, '[-_]')}(=|$)`);
    if (!given.some((a) => name.test(a))) out.push(`${flag}=${value}`);
  }
  return out;
}

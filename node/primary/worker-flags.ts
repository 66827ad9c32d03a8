/**
 * Node flags the primary starts its workers with.
 *
 * Young-generation size of the workers, MiB per semi-space (V8's default on 64-bit: 16; the space
 * starts small and grows only under allocation pressure, so an idle worker's RSS is unchanged). Ingest allocates
 * short-lived objects per message (parsed JSON, batches, promises); with 16 MiB the scavenger ran
 * so often that 10,000 streams at 1 message/s spent 13% of worker time in GC, and objects still in
 * flight got promoted to the old generation. 32 MiB: 8%, and the idle share of a profiled worker
 * rose from 15% to 29–36% at the same load; it costs at most 2 × 16 MiB more RSS per worker.
 */
export const WORKER_SEMI_SPACE_MIB = 32;

/** The workers' Node flags: the primary's own, plus the semi-space size unless the operator set one. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const own = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--max-semi-space-size(=|$)/.test(a));
  return own ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

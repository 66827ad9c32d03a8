/**
 * The primary's side of a memory-mode membership change (node/state/handoff.ts has the ordering
 * argument): pull chunks out of one worker (leaving, or giving sources to a new one) and push
 * each part to its new owner, one exclusive step at a time, until it has nothing left to move.
 */
import { RpcOp } from '../protocol/ipc.js';
import type { Logger } from '../observability/logger.js';
import type { HandoffChunk, HandoffExportArgs } from '../state/handoff.js';
import type { RpcRouter } from './rpc-router.js';

/** One chunk stays well below IPC-friendly sizes: ~8 MB of ring values. */
const CHUNK_VALUES = 1_000_000;
const STEP_TIMEOUT_MS = 30_000;

export interface HandoffResult {
  series: number;
  chunks: number;
  /** Series whose new owner could not take them (it died meanwhile): lost, like a crash. */
  lostSeries: number;
}

export async function handOffPartition(router: RpcRouter, leaving: number, members: number[], log: Logger): Promise<HandoffResult> {
  const started = Date.now();
  const result: HandoffResult = { series: 0, chunks: 0, lostSeries: 0 };
  for (;;) {
    const chunk = await router.exclusive(async () => {
      const args: HandoffExportArgs = { members, maxValues: CHUNK_VALUES };
      const c = (await router.callFromPrimary(leaving, RpcOp.HandoffExport, args, STEP_TIMEOUT_MS)) as HandoffChunk;
      await Promise.all(
        c.parts.map(async (p) => {
          try {
            await router.callFromPrimary(p.slot, RpcOp.HandoffImport, p.data, STEP_TIMEOUT_MS);
          } catch (err) {
            result.lostSeries += p.data.series.length;
            log.error({ err, from: leaving, to: p.slot, series: p.data.series.length }, 'handoff: the new owner did not take its part; those series are lost');
          }
        }),
      );
      return c;
    });
    result.series += chunk.series;
    result.chunks++;
    if (chunk.done) break;
  }
  log.info({ slot: leaving, ...result, ms: Date.now() - started }, 'partition handed off');
  return result;
}

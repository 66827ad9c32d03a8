/**
 * Membership changes in memory mode keep partitions disjoint and lose nothing: on scale-down a
 * leaving worker hands its whole partition to the sources' new owners before it exits; on
 * scale-up the staying workers hand over the sources a new worker now owns. The primary drives it
 * chunk by chunk (node/primary/handoff.ts); this module is the worker's side and the data format.
 *
 * Ordering that keeps every query exact (each sample counted once, none missing):
 * 1. the primary announces the membership without the leaving slot, so new samples go to the new
 *    owners (a late forward that reaches the sealed partition fails and is re-routed);
 * 2. each chunk is removed from the leaving partition and merged into its owners while the
 *    primary holds back new cross-partition queries (RpcRouter.exclusive), and IPC keeps order per
 *    channel, so a query sees the chunk either in the old partition or in the new one;
 * 3. merging is field-wise (count/sum/min/max add up, `last` by timestamp), so history that
 *    meets samples the new owner already took for the same buckets combines exactly.
 */
import { ErrorCode, FleetPulseError } from '../errors.js';
import { RpcOp } from '../protocol/ipc.js';
import type { SampleKind } from '../protocol/samples.js';
import type { Peers } from '../worker/peers.js';
import type { MemoryPartition } from './memory.js';
import { Ownership } from './ownership.js';

/** One series as handed to its new owner: identity, metadata and both rings. */
export interface SeriesExport {
  metric: string;
  source: string;
  tags: string;
  counter: boolean;
  receivedAt: number;
  /** RingStore.exportRing encodings. */
  fine: Float64Array;
  coarse: Float64Array;
}

/**
 * A slice of a partition (whole sources): the series with their rings, the sources' and metrics'
 * metadata, and named-stream sequence numbers. Plain data, so it crosses IPC ('advanced'
 * serialization keeps the typed arrays compact).
 */
export interface PartitionExport {
  series: SeriesExport[];
  sources: Array<{ source: string; lastSeen: number; intervalMs: number; metrics: string[] }>;
  metrics: Array<{ metric: string; unit: string; kind: SampleKind; updatedAt: number }>;
  streamSeqs: Array<{ id: string; seq: number; expiresAt: number }>;
}

export function emptyExport(): PartitionExport {
  return { series: [], sources: [], metrics: [], streamSeqs: [] };
}

/** Arguments of RpcOp.HandoffExport. */
export interface HandoffExportArgs {
  /** The new membership (without the leaving slot): who owns what after the handoff. */
  members: number[];
  /** Rough size bound of one chunk, in ring values (8 bytes each). */
  maxValues: number;
}

/** Answer of RpcOp.HandoffExport. */
export interface HandoffChunk {
  parts: Array<{ slot: number; data: PartitionExport }>;
  series: number;
  /** The partition is empty and sealed: the worker may exit. */
  done: boolean;
}

/** Split a slice by new owner: sources by their own key, stream ids by `stream:<id>` (as partitioned.ts). */
export function splitExport(x: PartitionExport, own: Ownership): Map<number, PartitionExport> {
  const out = new Map<number, PartitionExport>();
  const part = (slot: number): PartitionExport => {
    let p = out.get(slot);
    if (p === undefined) {
      p = emptyExport();
      out.set(slot, p);
    }
    return p;
  };
  const metricsOf = new Map<number, Set<string>>();
  for (const s of x.series) {
    const slot = own.ownerOf(s.source);
    part(slot).series.push(s);
    let ms = metricsOf.get(slot);
    if (ms === undefined) metricsOf.set(slot, (ms = new Set()));
    ms.add(s.metric);
  }
  for (const s of x.sources) part(own.ownerOf(s.source)).sources.push(s);
  for (const s of x.streamSeqs) part(own.ownerOf('stream:' + s.id)).streamSeqs.push(s);
  for (const [slot, ms] of metricsOf) {
    for (const m of x.metrics) if (ms.has(m.metric)) part(slot).metrics.push(m);
  }
  return out;
}

/**
 * Register the worker's handoff ops (memory mode). One op serves both directions of a membership
 * change: a leaving worker (not in `members`) gives away everything and seals its partition; a
 * staying worker gives away only the sources a new worker now owns (scale-up rebalance).
 */
export function serveHandoff(partition: MemoryPartition, peers: Peers, workerPort: number): void {
  peers.handle(RpcOp.HandoffExport, (args) => {
    const { members, maxValues } = args as HandoffExportArgs;
    const targets = members.filter((s) => s !== peers.slot);
    if (targets.length === 0) throw new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'no other worker to take over sources');
    const leaving = !members.includes(peers.slot);
    const own = new Ownership(members, workerPort);
    const moves = leaving ? (): boolean => true : (key: string): boolean => own.ownerOf(key) !== peers.slot;
    const x = partition.takeChunk(maxValues, moves);
    let done: boolean;
    if (leaving) {
      // Sealing in the same turn as the last removal: nothing can slip in between.
      done = partition.isEmpty;
      if (done) partition.seal();
    } else done = !partition.hasMoves(moves);
    const parts = [...splitExport(x, leaving ? new Ownership(targets, workerPort) : own)].map(([slot, data]) => ({ slot, data }));
    return { parts, series: x.series.length, done } satisfies HandoffChunk;
  });
  peers.handle(RpcOp.HandoffImport, (args) => {
    partition.importChunk(args as PartitionExport);
    return null;
  });
}

/**
 * Memory mode across workers: this worker's MemoryPartition plus its peers', reached over the
 * peer links (writes, stream seq records) and IPC (queries).
 * Writes are split by owner (ownership.ts); the local part is applied in place, the rest is
 * forwarded in coalesced batches, and apply() resolves only when every owner applied its part.
 * Reads gather every partition's partial and merge them, so any worker gives the same answer.
 */
import { ErrorCode, FleetPulseError, toFleetPulseError } from '../errors.js';
import { RpcOp } from '../protocol/ipc.js';
import { concatBatches, viewLength, type SampleBatch } from '../protocol/samples.js';
import type { Forwarder, ApplyArgs, ApplyResult, Undelivered } from '../worker/forwarder.js';
import type { SeqOp } from '../worker/peer-link.js';
import type { Peers } from '../worker/peers.js';
import type { SlotBatcher, SlotResults } from '../worker/slot-batcher.js';
import { MemoryPartition } from './memory.js';
import { mergeMetrics, mergeSeries, mergeSources, mergeSummary } from './merge.js';
import { liveOwnership, Ownership, splitByOwner } from './ownership.js';
import { IngestStage, ingestStages } from '../observability/stage-clock.js';
import type {
  BucketPartial, BucketUpdate, MetricAnswer, MetricPartial, SeriesAnswer, SeriesQuery, SourceAnswer, SourcePartial,
  StateStore, StoreStats, SummaryAnswer, SummaryPartial, SummaryQuery,
} from './store.js';

export interface PartitionedStoreOptions {
  workerPort: number;
  /** Bound on one apply() or query, ms. */
  timeoutMs: number;
  onForwarded: (samples: number) => void;
  now?: () => number;
}

export class PartitionedStore implements StateStore {
  readonly #local: MemoryPartition;
  readonly #peers: Peers;
  readonly #forwarder: Forwarder;
  readonly #seqOps: SlotBatcher<SeqOp, number>;
  readonly #opts: PartitionedStoreOptions;
  readonly #now: () => number;
  #ownership: Ownership | undefined;
  #membershipWaiters: Array<() => void> = [];

  /**
   * `forwarder` carries samples to their owners, `seqOps` named streams' seq/lease records to the
   * owner of `stream:ID`; both over the peer links, coalesced per event-loop turn.
   */
  constructor(local: MemoryPartition, peers: Peers, remote: { forwarder: Forwarder; seqOps: SlotBatcher<SeqOp, number> }, opts: PartitionedStoreOptions) {
    this.#local = local;
    this.#peers = peers;
    this.#forwarder = remote.forwarder;
    this.#seqOps = remote.seqOps;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    peers.onMembers((slots) => {
      this.#ownership = new Ownership(slots, opts.workerPort);
      const ws = this.#membershipWaiters;
      this.#membershipWaiters = [];
      for (const w of ws) w();
    });
    this.#serve();
  }

  /**
   * The current membership, which says the slot that stores each source (undefined until one with
   * a live worker is known); the ingest fast path hints owners under it.
   */
  ownership(): Ownership | undefined {
    return liveOwnership(this.#ownership);
  }

  /** Ops our peers call on this worker's partition. */
  #serve(): void {
    const p = this.#local;
    this.#peers.handle(RpcOp.SourcesPartial, () => p.sourcesPartial());
    this.#peers.handle(RpcOp.MetricsPartial, () => p.metricsPartial());
    this.#peers.handle(RpcOp.SeriesPartial, (args) => p.seriesPartial(args as SeriesQuery));
    this.#peers.handle(RpcOp.SummaryPartial, (args) => p.summaryPartial(args as SummaryQuery));
  }

  /** Seq ops a peer sent to this owner of their streams (over the peer link). */
  applySeqOps(ops: SeqOp[]): SlotResults<number> {
    const now = this.#now();
    return ops.map((op) => {
      if (op.seq !== undefined) this.#local.setStreamSeq(op.id, op.seq, now);
      return this.#local.streamSeq(op.id, now);
    });
  }

  /** Apply parts a peer forwarded to this owner (over the peer link), each all-or-nothing. */
  applyForwarded(args: ApplyArgs): ApplyResult {
    const started = performance.now();
    const result = args.parts.map((part) => {
      try {
        this.#local.apply(part.batch, part.receivedAt, part.index);
        return null;
      } catch (err) {
        return toFleetPulseError(err).toJSON();
      }
    });
    ingestStages.add(IngestStage.Apply, started);
    return result;
  }

  /**
   * Split by owner, apply this worker's part here, forward the rest; resolves when every owner
   * applied its part. While owners work, nothing here (nor in the forwarder) holds the batch: see
   * forwarder.ts for why that matters.
   */
  apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    const deadline = this.#now() + this.#opts.timeoutMs;
    const own = this.#ownership;
    try {
      if (own !== undefined && own.slots.length > 0) return this.#settle(this.#spread(own, batch, receivedAt), receivedAt, deadline);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#currentOwnership(deadline).then((o) => this.#settle(this.#spread(o, batch, receivedAt), receivedAt, deadline));
  }

  /** One round: the local part applied (or thrown), the others sent off; their deliveries, and how many samples they carry. */
  #spread(own: Ownership, batch: SampleBatch, receivedAt: number): { deliveries: Array<Promise<Undelivered | null>>; forwarded: number } {
    const splitStarted = performance.now();
    const parts = splitByOwner(batch, own);
    ingestStages.add(IngestStage.ForwardEncode, splitStarted);
    const local = parts.get(this.#peers.slot);
    if (local !== undefined) {
      const applyStarted = performance.now();
      this.#local.apply(local.batch, receivedAt, local.index);
      ingestStages.add(IngestStage.Apply, applyStarted);
    }
    const deliveries: Array<Promise<Undelivered | null>> = [];
    let forwarded = 0;
    for (const [slot, part] of parts) {
      if (slot === this.#peers.slot) continue;
      forwarded += viewLength(part);
      deliveries.push(this.#forwarder.deliver(slot, part, receivedAt));
    }
    return { deliveries, forwarded };
  }

  /** Wait for a round's owners; parts whose owner left go out again over the new membership (bounded by deadline). */
  async #settle(round: { deliveries: Array<Promise<Undelivered | null>>; forwarded: number }, receivedAt: number, deadline: number): Promise<void> {
    for (;;) {
      if (round.deliveries.length === 0) return;
      const outcomes = await Promise.all(round.deliveries);
      const failed: SampleBatch[] = [];
      for (const u of outcomes) {
        if (u === null) continue;
        // The owner left (crash, scale-down): re-split its part over the new membership.
        if (u.error.code === ErrorCode.STATE_UNAVAILABLE && this.#now() < deadline) failed.push(u.samples());
        else throw u.error;
      }
      this.#opts.onForwarded(round.forwarded);
      if (failed.length === 0) return;
      const pending = concatBatches(failed);
      await this.#membershipChange(deadline);
      round = this.#spread(await this.#currentOwnership(deadline), pending, receivedAt);
    }
  }

  async #currentOwnership(deadline: number): Promise<Ownership> {
    while (this.#ownership === undefined || this.#ownership.slots.length === 0) {
      if (this.#now() >= deadline) throw new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, 'no live workers to own the samples yet');
      await this.#membershipChange(deadline);
    }
    return this.#ownership;
  }

  /** Resolves at the next membership announcement, or after a short pause (bounded by deadline). */
  #membershipChange(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, Math.min(100, deadline - this.#now())));
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#membershipWaiters.push(done);
    });
  }

  async #gather<T>(op: RpcOp, args: unknown): Promise<T[]> {
    const g = await this.#peers.gather(op, args, this.#opts.timeoutMs);
    if (g.missing.length > 0) {
      throw new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `partitions of worker(s) ${g.missing.join(', ')} did not answer in time; the answer would be incomplete`);
    }
    const out: T[] = [];
    for (const r of g.results) {
      if (!r.ok) throw FleetPulseError.fromWire(r.error ?? { code: ErrorCode.INTERNAL, message: 'partition failed' });
      out.push(r.result as T);
    }
    return out;
  }

  async sources(now: number): Promise<SourceAnswer[]> {
    return mergeSources(await this.#gather<SourcePartial[]>(RpcOp.SourcesPartial, null), now);
  }
  async metrics(): Promise<MetricAnswer[]> {
    return mergeMetrics(await this.#gather<MetricPartial[]>(RpcOp.MetricsPartial, null));
  }
  async series(q: SeriesQuery): Promise<SeriesAnswer> {
    return mergeSeries(await this.#gather<BucketPartial[]>(RpcOp.SeriesPartial, q), q);
  }
  async summary(q: SummaryQuery, windowText: string): Promise<SummaryAnswer> {
    return mergeSummary(await this.#gather<SummaryPartial[]>(RpcOp.SummaryPartial, q), q, windowText);
  }

  async streamSeq(streamId: string): Promise<number> {
    const own = await this.#currentOwnership(this.#now() + this.#opts.timeoutMs);
    const slot = own.ownerOf('stream:' + streamId);
    if (slot === this.#peers.slot) return this.#local.streamSeq(streamId, this.#now());
    return this.#seqOps.submit(slot, { id: streamId });
  }

  async setStreamSeq(streamId: string, seq: number): Promise<void> {
    const own = await this.#currentOwnership(this.#now() + this.#opts.timeoutMs);
    const slot = own.ownerOf('stream:' + streamId);
    if (slot === this.#peers.slot) this.#local.setStreamSeq(streamId, seq, this.#now());
    else await this.#seqOps.submit(slot, { id: streamId, seq });
  }

  async drainUpdates(): Promise<BucketUpdate[]> {
    return this.#local.drainUpdates();
  }

  ready(): boolean {
    return this.#ownership !== undefined && this.#ownership.slots.includes(this.#peers.slot);
  }

  stats(): StoreStats {
    return this.#local.stats();
  }

  async close(): Promise<void> {}
}

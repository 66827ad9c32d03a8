/**
 * Messages between the primary and its workers (node:cluster IPC, 'advanced' serialization).
 * Every message carries `src: 'fleetpulse'` so foreign messages are ignored, and errors cross as
 * `{code, message}` and are rebuilt into FleetPulseError on the other side.
 */
import type { WireError } from '../errors.js';

export const IPC_SOURCE = 'fleetpulse';

/**
 * Operations a worker answers for its peers (routed by the primary). The data plane — forwarded
 * samples and stream seq records — goes over the direct peer links instead (worker/peer-link.ts).
 */
export const RpcOp = {
  SourcesPartial: 'sourcesPartial',
  MetricsPartial: 'metricsPartial',
  SeriesPartial: 'seriesPartial',
  SummaryPartial: 'summaryPartial',
  PromMetrics: 'promMetrics',
  Status: 'status',
  /** Scale-down: stop taking traffic from the balancer (/healthz answers 503). */
  Drain: 'drain',
  /** Membership change (memory): remove a chunk of the sources this worker no longer owns, split by new owner. */
  HandoffExport: 'handoffExport',
  /** Membership change (memory): merge sources handed over by another worker into this partition. */
  HandoffImport: 'handoffImport',
} as const;
export type RpcOp = (typeof RpcOp)[keyof typeof RpcOp];

/** Target of an RPC: one slot, or every live worker. */
export type RpcTarget = number | 'all';

export interface RpcRequest {
  src: typeof IPC_SOURCE;
  t: 'rpc';
  id: number;
  /** Slot of the requester (set by the requester; the primary relays replies to it). */
  from: number;
  to: RpcTarget;
  op: RpcOp;
  args: unknown;
}

export interface RpcReply {
  src: typeof IPC_SOURCE;
  t: 'rpc:res';
  id: number;
  /** Requester slot (the primary routes on it). */
  to: number;
  /** Slot that answered. */
  slot: number;
  ok: boolean;
  result?: unknown;
  error?: WireError;
}

/** The primary's answer to an `all` RPC: one entry per live worker at request time. */
export interface RpcGathered {
  src: typeof IPC_SOURCE;
  t: 'rpc:all';
  id: number;
  results: Array<{ slot: number; ok: boolean; result?: unknown; error?: WireError }>;
  /** Slots that did not answer within the timeout. */
  missing: number[];
}

export interface WorkerReady {
  src: typeof IPC_SOURCE;
  t: 'ready';
  slot: number;
  address: string;
  port: number;
}

export interface Members {
  src: typeof IPC_SOURCE;
  t: 'members';
  slots: number[];
}

export interface Shutdown {
  src: typeof IPC_SOURCE;
  t: 'shutdown';
}

/**
 * A connection handed to another worker (worker/connection-handoff.ts), sent with the socket's
 * handle: worker → primary (`to` = the slot that takes it) → that worker. `bytes`: what was
 * already read from the socket (the request, rebuilt), to be parsed again by the new worker.
 */
export interface AdoptConnection {
  src: typeof IPC_SOURCE;
  t: 'adopt';
  from: number;
  to: number;
  bytes: Uint8Array;
}

export type PrimaryToWorker = RpcRequest | RpcReply | RpcGathered | Members | Shutdown | AdoptConnection;
export type WorkerToPrimary = RpcRequest | RpcReply | WorkerReady | AdoptConnection;

export function isIpc(m: unknown): m is { src: typeof IPC_SOURCE; t: string } {
  return typeof m === 'object' && m !== null && (m as { src?: unknown }).src === IPC_SOURCE && typeof (m as { t?: unknown }).t === 'string';
}

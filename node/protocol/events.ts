/**
 * The live API's wire types (DESIGN.md §5): Socket.IO namespace `/live`, websocket transport.
 * The server's `Server<…>` and the dashboard's `Socket<…>` are both typed from this file, so an
 * event whose shape changes breaks the build on both sides. The dashboard may import this file
 * with `import type` only (STYLE.md §1), so everything it needs at run time (room names) is
 * re-derived there from the same rules; `roomOf` below is the one server-side definition.
 *
 * Updates are columnar (one array per field, index i across arrays = one series bucket): a fleet
 * room with 10,000 sources sends a few thousand entries per flush, and column arrays of numbers
 * serialize to roughly half the JSON of an array of objects.
 */
import type { SummaryAnswer } from '../state/store.js';

export const LIVE_NAMESPACE = '/live';
export const LIVE_PATH = '/socket.io/';

/** What a view asks for. No `source` = the fleet room of the metric (every source's last value + `summary`). */
export interface SubscribeRequest {
  metric: string;
  source?: string;
  /**
   * Accepted for compatibility with DESIGN.md §5; rooms are per metric and per metric+source,
   * and updates carry each series' canonical tags, so tag filtering happens in the client.
   */
  tags?: Record<string, string>;
}

export interface LiveError {
  code: string;
  message: string;
}

export type SubscribeAck = { ok: true; room: string; flushMs: number; stepMs: number } | { ok: false; error: LiveError };

/**
 * Buckets of one metric+source room. Replace semantics: an entry is the bucket's full state as
 * stored, so a client merges by (tags, start) and keeps the entry with the larger count (count only
 * grows within a bucket, so reordered deliveries never regress a bucket).
 */
export interface SeriesUpdate {
  k: 'series';
  room: string;
  metric: string;
  source: string;
  /** Width of a bucket (the fine step), ms. */
  stepMs: number;
  /** Canonical tags per entry ('' when none; pairs `k=v` joined by U+001F). */
  tags: string[];
  start: number[];
  count: number[];
  sum: number[];
  min: number[];
  max: number[];
  last: number[];
  /** Server receive time of the oldest and of the newest sample in this update, ms. */
  recv: [number, number];
  /** Server time of the emit, ms. */
  at: number;
}

/**
 * Latest bucket of every changed series of one metric (the Fleet heat map's feed). Entries are
 * grouped by bucket start and the starts sent as runs: nearly every entry of a flush shares one
 * or two starts, and a 13-digit start per entry was 40% of the bytes every dashboard parses
 * (10,000 sources at 1 Hz: 310 KiB/s per dashboard).
 */
export interface FleetUpdate {
  k: 'fleet';
  room: string;
  metric: string;
  stepMs: number;
  source: string[];
  last: number[];
  /** Runs over the entries in order, flattened: `[start, count, start, count, …]`; the counts sum to source.length. */
  starts: number[];
  recv: [number, number];
  at: number;
}

export type LiveUpdate = SeriesUpdate | FleetUpdate;

/** `GET /api/v1/summary?metric=…&window=10s&by=last`, pushed every second to the metric's fleet room. */
export type LiveSummary = SummaryAnswer & { room: string; at: number };

/** Counts per bucket (not cumulative) over the last minute; `le` are the upper bounds in seconds, the last one -1 meaning +Inf (JSON has no Infinity). */
export interface LatencyHistogram {
  le: number[];
  counts: number[];
  count: number;
  sum: number;
}

export interface LiveWorker {
  /** Worker slot. */
  id: number;
  pid: number;
  host: string;
  address: string;
  uptimeS: number;
  samplesPerSec: number;
  /** Open HTTP connections (h1 + h2c) of the worker. */
  connections: number;
  /** Share of the samples this worker received that it forwarded to their owner (memory mode), 0–1. */
  forwardedShare: number;
  series: number;
  /** Dashboard clients connected to this worker's /live namespace. */
  liveClients: number;
  /** Updates this worker emitted in the last second. */
  updatesPerSec: number;
  /** Batches this worker refused for the series limit (state.maxSeries) and the sources they carried, most recent first. */
  seriesLimit?: { rejections: number; sources: Array<{ source: string; at: number; count: number }> };
}

/** Pushed every 2 s to every client of /live. */
export interface LiveCluster {
  at: number;
  balancer: string;
  state: string;
  /** Redis reachability in redis mode; 'n/a' in memory mode. */
  redis: 'up' | 'down' | 'n/a';
  adapter: string;
  workers: LiveWorker[];
  samplesPerSec: number;
  /** Sample received → update emitted, last minute, every worker. */
  sampleToBroadcast: LatencyHistogram;
  /** Sample received → painted in a browser (as reported by browsers), last minute. */
  sampleToScreen: LatencyHistogram;
}

/** Browser → server: sample-to-screen latencies measured since the last report, seconds. */
export interface LatencyReport {
  s: number[];
}

export interface ServerToClientEvents {
  update: (u: LiveUpdate) => void;
  summary: (s: LiveSummary) => void;
  cluster: (c: LiveCluster) => void;
}

export interface ClientToServerEvents {
  subscribe: (req: SubscribeRequest, ack?: (res: SubscribeAck) => void) => void;
  unsubscribe: (req: SubscribeRequest, ack?: (res: SubscribeAck) => void) => void;
  latency: (r: LatencyReport) => void;
  /** Clock sync: the server answers its Date.now(), so the browser can convert its paint time. */
  time: (ack: (serverNowMs: number) => void) => void;
}

/**
 * Worker ↔ worker over the adapter (serverSideEmit, JSON only). Every worker announces itself
 * every second: which rooms its clients hold (so others emit only to rooms somebody watches) and
 * its status (so the leader, the lowest live slot, can publish `cluster` without another gather).
 */
export interface NodeBeat {
  node: string;
  slot: number;
  rooms: string[];
  worker: LiveWorker;
  b2b: number[];
  s2s: number[];
  b2bSum: number;
  s2sSum: number;
  redis: 'up' | 'down' | 'n/a';
}

export interface InterServerEvents {
  'fp:beat': (b: NodeBeat) => void;
}

export interface LiveSocketData {
  rooms: number;
}

/** Room of a subscription: `m|metric` (fleet) or `s|metric|source` ('|' is in neither name's alphabet). */
export function roomOf(metric: string, source?: string): string {
  return source === undefined ? `m|${metric}` : `s|${metric}|${source}`;
}

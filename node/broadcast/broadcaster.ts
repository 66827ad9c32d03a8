/**
 * The live broadcaster of one worker (DESIGN.md §5): every `live.flushMs` it pulls the buckets its
 * store changed (`drainUpdates`) and emits one compact, volatile `update` per watched room; the
 * leader (lowest live slot, see membership.ts) also emits `summary` every second for every metric
 * somebody shows in a Fleet view, and `cluster` every 2 s.
 *
 * Volatile in spirit, not Socket.IO's `volatile` flag: that flag drops a packet whenever the
 * websocket transport has a write in flight, i.e. every second packet emitted to a socket in the
 * same tick (a fleet update and a series update of one flush, or two workers' updates arriving
 * together) — healthy clients lost most series updates in the integration test. Instead, every
 * flush puts this worker's clients whose send backlog passed SLOW_BACKLOG_BYTES into the local
 * `slow` room, and every live emit excepts that room, on every worker. A slow browser skips
 * frames instead of growing server memory (engine.io's write buffer is unbounded); the dashboard
 * detects the hole by bucket timestamp and refills it over REST.
 *
 * Each worker emits only what its own store changed (memory: its partition, including samples
 * forwarded to it; redis: what it wrote); the adapter delivers to clients on every worker.
 */
import type { ResolvedConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import { roomOf, type LiveCluster, type LiveWorker, type NodeBeat } from '../protocol/events.js';
import type { BucketUpdate, StateStore } from '../state/store.js';
import { encodeUpdates } from './encode.js';
import { hostName, type LiveServer } from './io.js';
import { LiveMembership } from './membership.js';
import { LIVE_LATENCY_BOUNDS, RollingHistogram, addCounts } from './rolling-histogram.js';

const BEAT_MS = 1000;
const SUMMARY_MS = 1000;
const CLUSTER_MS = 2000;
const SUMMARY_WINDOW_MS = 10_000;
/** Local room of clients that skip frames (not an m|/s| room: never announced, never emitted to). */
export const SLOW_ROOM = 'slow';
/** A client whose unsent bytes pass this skips frames until it is below SLOW_RESUME_BYTES. */
export const SLOW_BACKLOG_BYTES = 1 << 20;
const SLOW_RESUME_BYTES = 256 << 10;
const SLOW_BACKLOG_PACKETS = 200;
/** drainUpdates' filter while no room is watched anywhere. */
const nothingWanted = (): boolean => false;

/** What the worker tells the live layer about itself (the rest is filled in here). */
export type WorkerLiveStatus = Omit<LiveWorker, 'host' | 'liveClients' | 'updatesPerSec'>;

export interface BroadcasterDeps {
  live: LiveServer;
  store: Pick<StateStore, 'drainUpdates' | 'summary'>;
  cfg: Pick<ResolvedConfig, 'live' | 'retention' | 'balancer' | 'state'>;
  slot: number;
  status: () => WorkerLiveStatus;
  metrics: WorkerMetrics;
  log: Logger;
  now?: () => number;
}

export class Broadcaster {
  readonly #d: BroadcasterDeps;
  readonly #now: () => number;
  readonly #membership: LiveMembership;
  readonly #b2b = new RollingHistogram();
  readonly #s2s = new RollingHistogram();
  readonly #timers: NodeJS.Timeout[] = [];
  #flushing = false;
  #summarizing = false;
  #failing = false;
  #closed = false;
  #emittedThisSecond = 0;
  #updatesPerSec = 0;
  #clients = 0;

  constructor(deps: BroadcasterDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#membership = new LiveMembership({ node: `${hostName}/${process.pid}`, slot: deps.slot }, this.#now());
    deps.live.nsp.on('fp:beat', (b) => {
      if (isBeat(b)) this.#membership.onBeat(b, this.#now());
    });
    deps.live.nsp.on('connection', (socket) => {
      this.#clients++;
      socket.on('disconnect', () => this.#clients--);
    });
    // Announce a new room at once (before the subscribe ack leaves), so the other workers start
    // emitting to it before the client's REST backfill reads the store.
    deps.live.onRoomsChanged(() => this.#beat());
  }

  start(): void {
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#d.cfg.live.flushMs, () => void this.#flush());
    every(BEAT_MS, () => {
      this.#updatesPerSec = this.#emittedThisSecond;
      this.#emittedThisSecond = 0;
      this.#membership.expire(this.#now());
      this.#beat();
    });
    every(SUMMARY_MS, () => void this.#summaries());
    every(CLUSTER_MS, () => this.#cluster());
    this.#beat();
  }

  /** Sample-to-screen latencies reported by browsers connected to this worker. */
  observeScreenLatency(seconds: readonly number[]): void {
    const now = this.#now();
    for (const s of seconds) {
      this.#d.metrics.sampleToScreen.observe(s);
      this.#s2s.observe(s, now);
    }
  }

  #watched = (room: string): boolean => this.#d.live.localRooms().has(room) || this.#membership.remoteHas(room);

  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed) return;
    this.#flushing = true;
    try {
      this.#markSlowClients();
      // Always drain, watched or not: the store's dirty list must not grow while nobody looks.
      // Only buckets somebody watches are worth reading back (Redis mode reads other writers' shares);
      // while no room is watched anywhere, no room name is built per bucket to find that out.
      const wanted = this.#anyWatched() ? (metric: string, source: string) => this.#watched(roomOf(metric)) || this.#watched(roomOf(metric, source)) : nothingWanted;
      const updates = await this.#d.store.drainUpdates(wanted);
      if (updates.length === 0) return;
      // Nothing to emit while no room is watched: encoding would only find that out per bucket.
      if (this.#anyWatched()) this.#emit(updates);
      if (this.#failing) this.#d.log.info('live updates flowing again');
      this.#failing = false;
    } catch (err) {
      this.#d.metrics.liveFlushErrors.inc();
      if (!this.#failing) this.#d.log.warn({ err }, 'live flush failed; retrying every flush');
      this.#failing = true;
    } finally {
      this.#flushing = false;
    }
  }

  /** Does any client anywhere in the cluster watch a room? */
  #anyWatched(): boolean {
    return this.#d.live.localRooms().size > 0 || this.#membership.remoteRoomCount > 0;
  }

  /** One update message per watched room. */
  #emit(updates: readonly BucketUpdate[]): void {
    const now = this.#now();
    const enc = encodeUpdates(updates, this.#watched, this.#d.cfg.retention.fineStepMs, now);
    const nsp = this.#d.live.nsp;
    for (const f of enc.fleet) nsp.to(f.room).except(SLOW_ROOM).emit('update', f);
    for (const s of enc.series) nsp.to(s.room).except(SLOW_ROOM).emit('update', s);
    const m = this.#d.metrics;
    if (enc.fleet.length > 0) m.liveUpdates.inc({ kind: 'fleet' }, enc.fleet.length);
    if (enc.series.length > 0) m.liveUpdates.inc({ kind: 'series' }, enc.series.length);
    this.#emittedThisSecond += enc.fleet.length + enc.series.length;
    for (const r of enc.emittedReceivedAt) {
      const s = Math.max(0, now - r) / 1000;
      m.broadcastLatency.observe(s);
      this.#b2b.observe(s, now);
    }
  }

  /** Move this worker's clients in or out of the `slow` room by their send backlog. */
  #markSlowClients(): void {
    for (const socket of this.#d.live.nsp.sockets.values()) {
      const { bytes, packets } = backlogOf(socket.conn);
      const slow = socket.rooms.has(SLOW_ROOM);
      if (!slow && (bytes > SLOW_BACKLOG_BYTES || packets > SLOW_BACKLOG_PACKETS)) {
        void socket.join(SLOW_ROOM);
        this.#d.metrics.liveSkippedClients.inc();
      } else if (slow && bytes < SLOW_RESUME_BYTES && packets < SLOW_BACKLOG_PACKETS / 4) void socket.leave(SLOW_ROOM);
    }
  }

  /** Metrics shown in a Fleet view somewhere in the cluster. */
  #fleetMetrics(): string[] {
    const out = new Set<string>();
    for (const r of this.#d.live.localRooms()) if (r.startsWith('m|')) out.add(r.slice(2));
    for (const r of this.#membership.remoteRooms()) if (r.startsWith('m|')) out.add(r.slice(2));
    return [...out];
  }

  async #summaries(): Promise<void> {
    if (this.#summarizing || this.#closed || !this.#membership.isLeader(this.#now())) return;
    this.#summarizing = true;
    try {
      const now = this.#now();
      await Promise.all(
        this.#fleetMetrics().map(async (metric) => {
          const ring = 'fine' as const;
          const a = await this.#d.store.summary({ metric, windowMs: SUMMARY_WINDOW_MS, by: 'last', now, ring }, '10s');
          const room = `m|${metric}`;
          this.#d.live.nsp.to(room).except(SLOW_ROOM).emit('summary', { ...a, room, at: this.#now() });
        }),
      );
    } catch (err) {
      this.#d.metrics.liveFlushErrors.inc();
      this.#d.log.debug({ err }, 'live summary failed');
    } finally {
      this.#summarizing = false;
    }
  }

  #selfWorker(): LiveWorker {
    return { ...this.#d.status(), host: hostName, liveClients: this.#clients, updatesPerSec: this.#updatesPerSec };
  }

  #beat(): void {
    if (this.#closed) return;
    const now = this.#now();
    const b2b = this.#b2b.snapshot(now);
    const s2s = this.#s2s.snapshot(now);
    const beat: NodeBeat = {
      node: this.#membership.self.node, slot: this.#d.slot, rooms: [...this.#d.live.localRooms()], worker: this.#selfWorker(),
      b2b: b2b.counts, s2s: s2s.counts, b2bSum: b2b.sum, s2sSum: s2s.sum, redis: this.#d.live.redisStatus(),
    };
    this.#d.live.nsp.serverSideEmit('fp:beat', beat);
  }

  #cluster(): void {
    const now = this.#now();
    if (this.#closed || !this.#membership.isLeader(now)) return;
    const own = { b2b: this.#b2b.snapshot(now), s2s: this.#s2s.snapshot(now) };
    const peers = this.#membership.peers(now);
    const workers = [this.#selfWorker(), ...peers.map((p) => p.worker)].sort((a, b) => a.id - b.id || a.host.localeCompare(b.host));
    const b2b = addCounts([...own.b2b.counts], []);
    const s2s = addCounts([...own.s2s.counts], []);
    let b2bSum = own.b2b.sum;
    let s2sSum = own.s2s.sum;
    let redisDown = this.#d.live.redisStatus() === 'down';
    for (const p of peers) {
      addCounts(b2b, p.b2b);
      addCounts(s2s, p.s2s);
      b2bSum += p.b2bSum;
      s2sSum += p.s2sSum;
      redisDown ||= p.redis === 'down';
    }
    const le = [...LIVE_LATENCY_BOUNDS, Infinity];
    const hist = (counts: number[], sum: number): LiveCluster['sampleToScreen'] => ({ le: le.map((x) => (x === Infinity ? -1 : x)), counts, count: counts.reduce((a, c) => a + c, 0), sum });
    const c: LiveCluster = {
      at: now,
      balancer: this.#d.cfg.balancer,
      state: this.#d.cfg.state.mode,
      redis: this.#d.cfg.state.mode === 'redis' ? (redisDown ? 'down' : 'up') : 'n/a',
      adapter: this.#d.live.adapter,
      workers,
      samplesPerSec: workers.reduce((a, w) => a + w.samplesPerSec, 0),
      sampleToBroadcast: hist(b2b, b2bSum),
      sampleToScreen: hist(s2s, s2sSum),
    };
    this.#d.live.nsp.except(SLOW_ROOM).emit('cluster', c);
  }

  /** Stop the timers; the Socket.IO server is closed after this (reverse start order). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
  }
}

function isBeat(b: unknown): b is NodeBeat {
  const x = b as Partial<NodeBeat> | null;
  return typeof x === 'object' && x !== null && typeof x.node === 'string' && typeof x.slot === 'number' && Array.isArray(x.rooms) && typeof x.worker === 'object' && Array.isArray(x.b2b) && Array.isArray(x.s2s);
}

/** Bytes and packets an engine.io connection has not sent yet (writeBuffer + the ws socket's buffer). */
function backlogOf(conn: unknown): { bytes: number; packets: number } {
  const c = conn as { writeBuffer?: unknown[]; transport?: { socket?: { bufferedAmount?: number } } };
  return { bytes: c.transport?.socket?.bufferedAmount ?? 0, packets: c.writeBuffer?.length ?? 0 };
}

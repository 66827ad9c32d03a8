/**
 * The Socket.IO server of a worker (DESIGN.md §5) and the choice of cross-worker adapter:
 * - memory mode: @socket.io/cluster-adapter over node:cluster IPC (the primary relays, see
 *   `setupPrimary()` in primary.ts); no Redis needed.
 * - redis mode: @socket.io/redis-adapter. Sharded pub/sub (SPUBLISH, Redis ≥ 7) when the server
 *   supports it, else the classic PUBLISH adapter; bench/scenarios/live-adapters.ts measured both
 *   (results/live-adapters.md) and the sharded one wins once several workers hold different rooms,
 *   because a node only receives the rooms it hosts instead of every broadcast (NOTES.md §3).
 *
 * Websocket transport only: no sticky sessions needed behind Caddy or node:cluster (NOTES.md §3).
 * `destroyUpgrade: false`: the same http server carries the ingest stream's `ws` upgrades on
 * /api/v1/stream; with the default, engine.io would end every non-/socket.io upgrade socket that
 * stays silent for a second (NOTES.md §4).
 */
import type http from 'node:http';
import os from 'node:os';
import { Server, type Namespace } from 'socket.io';
import { createAdapter as createClusterAdapter } from '@socket.io/cluster-adapter';
import { createAdapter as createRedisAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/schema.js';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { Role, type AccessControl } from '../http/auth.js';
import type { Logger } from '../observability/logger.js';
import type { WorkerMetrics } from '../observability/metrics.js';
import {
  LIVE_NAMESPACE, LIVE_PATH, roomOf,
  type ClientToServerEvents, type InterServerEvents, type LiveSocketData, type ServerToClientEvents, type SubscribeAck, type SubscribeRequest,
} from '../protocol/events.js';

export type LiveNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, LiveSocketData>;
export type LiveIo = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, LiveSocketData>;

export const AdapterKind = { Cluster: 'cluster', RedisSharded: 'redis-sharded', RedisClassic: 'redis-classic', Local: 'local' } as const;
export type AdapterKind = (typeof AdapterKind)[keyof typeof AdapterKind];

/** Rooms one connection may hold: a view shows at most a few dozen series; this bounds abuse. */
export const MAX_ROOMS_PER_SOCKET = 256;
/** At most this many latency values per report, and one report per second per connection. */
const MAX_LATENCY_VALUES = 500;
const METRIC_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
const SOURCE_NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface LiveServer {
  io: LiveIo;
  nsp: LiveNamespace;
  adapter: AdapterKind;
  /** Rooms held by this worker's clients (socket-id rooms excluded). */
  localRooms(): ReadonlySet<string>;
  /** Called when a room first appears or disappears on this worker. */
  onRoomsChanged(cb: () => void): void;
  /** Redis reachability of the adapter's publisher (redis mode); 'n/a' otherwise. */
  redisStatus(): 'up' | 'down' | 'n/a';
  close(): Promise<void>;
}

export interface LiveServerDeps {
  cfg: Pick<ResolvedConfig, 'live' | 'state' | 'auth' | 'retention'>;
  httpServer: http.Server;
  log: Logger;
  metrics: WorkerMetrics;
  /** Sample-to-screen latencies reported by browsers, seconds (already validated). */
  onScreenLatency: (seconds: number[]) => void;
  /** `memory` mode without node:cluster (tests): no adapter. */
  standalone?: boolean;
  /** Force the Redis adapter flavour (tests and the adapter bench); default: sharded on Redis ≥ 7. */
  redisAdapter?: 'sharded' | 'classic';
  /**
   * Read keys and Origin (node/http/auth.ts): a cross-origin handshake is refused at the HTTP
   * upgrade (403), a missing/wrong key by the namespace (connect_error with data.code). Undefined = open.
   */
  access?: AccessControl;
}

export async function createLiveServer(deps: LiveServerDeps): Promise<LiveServer> {
  const { cfg, log, metrics } = deps;
  let adapterKind: AdapterKind = deps.standalone === true ? AdapterKind.Local : AdapterKind.Cluster;
  let redis: { pub: Redis; sub: Redis } | undefined;
  let adapter: Parameters<LiveIo['adapter']>[0] | undefined;

  if (cfg.state.mode === 'redis') {
    const r = await connectAdapterClients(cfg.state.redisUrl, log, () => metrics.livePublishErrors.inc());
    redis = r;
    const sharded = deps.redisAdapter === undefined ? await supportsShardedPubSub(r.pub) : deps.redisAdapter === 'sharded';
    const key = `${cfg.state.redisKeyPrefix}sio`;
    adapterKind = sharded ? AdapterKind.RedisSharded : AdapterKind.RedisClassic;
    adapter = sharded
      ? createShardedAdapter(r.pub, r.sub, { channelPrefix: key, subscriptionMode: 'dynamic' })
      : createRedisAdapter(r.pub, r.sub, { key, requestsTimeout: 3000, publishOnSpecificResponseChannel: true });
  } else if (adapterKind === AdapterKind.Cluster) {
    adapter = createClusterAdapter() as unknown as Parameters<LiveIo['adapter']>[0];
  }

  const io: LiveIo = new Server(deps.httpServer, {
    path: LIVE_PATH,
    transports: ['websocket'],
    serveClient: false,
    destroyUpgrade: false,
    perMessageDeflate: false,
    // Small frames only: subscribe requests and latency reports.
    maxHttpBufferSize: 64 * 1024,
    // Cross-site WebSocket hijacking: a page elsewhere must not open the dashboard's feed.
    ...(deps.access === undefined ? {} : { allowRequest: (req: http.IncomingMessage, cb: (err: string | null | undefined, ok: boolean) => void) => cb(null, deps.access!.admitsOrigin(Role.Read, req.headers)) }),
    pingInterval: 10_000,
    pingTimeout: 10_000,
    ...(adapter === undefined ? {} : { adapter }),
  });
  const nsp = io.of(LIVE_NAMESPACE);

  const rooms = new Set<string>();
  const roomListeners: Array<() => void> = [];
  const isSocketRoom = (room: string): boolean => !room.startsWith('m|') && !room.startsWith('s|');
  nsp.adapter.on('create-room', (room: string) => {
    if (isSocketRoom(room)) return;
    rooms.add(room);
    metrics.liveRooms.set(rooms.size);
    for (const cb of roomListeners) cb();
  });
  nsp.adapter.on('delete-room', (room: string) => {
    if (!rooms.delete(room)) return;
    metrics.liveRooms.set(rooms.size);
    for (const cb of roomListeners) cb();
  });

  const access = deps.access;
  if (access !== undefined && access.requiresKey(Role.Read)) {
    nsp.use((socket, next) => {
      const auth = socket.handshake.auth as { key?: unknown } | undefined;
      try {
        // auth: {key} first (the dashboard), then the handshake's headers and ?key=.
        access.check(Role.Read, { headers: socket.handshake.headers, url: socket.request.url }, typeof auth?.key === 'string' ? auth.key : undefined);
        next();
      } catch (e) {
        const fe = e instanceof FleetPulseError ? e : new FleetPulseError(ErrorCode.UNAUTHORIZED, 'unauthorized');
        const err = new Error(fe.message) as Error & { data?: unknown };
        err.data = { code: fe.code };
        next(err);
      }
    });
  }

  const stepMs = cfg.retention.fineStepMs;
  nsp.on('connection', (socket) => {
    metrics.liveClients.inc();
    socket.data.rooms = 0;
    let lastReport = 0;
    const resolve = (req: unknown): { room: string } | { error: SubscribeAck & { ok: false } } => {
      const r = req as Partial<SubscribeRequest> | null;
      if (typeof r !== 'object' || r === null || typeof r.metric !== 'string' || !METRIC_NAME_RE.test(r.metric)) {
        return { error: { ok: false, error: { code: ErrorCode.INVALID_QUERY, message: 'subscribe needs {metric} with a valid metric name' } } };
      }
      if (r.source !== undefined && (typeof r.source !== 'string' || !SOURCE_NAME_RE.test(r.source))) {
        return { error: { ok: false, error: { code: ErrorCode.INVALID_QUERY, message: 'source is not a valid source name' } } };
      }
      return { room: roomOf(r.metric, r.source) };
    };
    socket.on('subscribe', (req, ack) => {
      const r = resolve(req);
      if ('error' in r) return void (typeof ack === 'function' && ack(r.error));
      if (!socket.rooms.has(r.room)) {
        if (socket.data.rooms >= MAX_ROOMS_PER_SOCKET) {
          if (typeof ack === 'function') ack({ ok: false, error: { code: ErrorCode.RATE_LIMITED, message: `at most ${MAX_ROOMS_PER_SOCKET} subscriptions per connection` } });
          return;
        }
        socket.data.rooms++;
        // join() is synchronous with the in-memory part of every adapter we use; the room's
        // create-room listener announces it to the other workers before the ack leaves, so updates
        // from every worker flow before the client's REST backfill runs (no gap; see broadcaster.ts).
        void socket.join(r.room);
      }
      if (typeof ack === 'function') ack({ ok: true, room: r.room, flushMs: cfg.live.flushMs, stepMs });
    });
    socket.on('unsubscribe', (req, ack) => {
      const r = resolve(req);
      if ('error' in r) return void (typeof ack === 'function' && ack(r.error));
      if (socket.rooms.has(r.room)) {
        socket.data.rooms--;
        void socket.leave(r.room);
      }
      if (typeof ack === 'function') ack({ ok: true, room: r.room, flushMs: cfg.live.flushMs, stepMs });
    });
    socket.on('time', (ack) => {
      if (typeof ack === 'function') ack(Date.now());
    });
    socket.on('latency', (report) => {
      const now = Date.now();
      if (now - lastReport < 1000) return;
      lastReport = now;
      const s = (report as { s?: unknown } | null)?.s;
      if (!Array.isArray(s)) return;
      const ok: number[] = [];
      for (let i = 0; i < s.length && i < MAX_LATENCY_VALUES; i++) {
        const v = s[i] as unknown;
        // Negative values come from clock-offset error; more than an hour is not a live screen.
        if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 3600) ok.push(v);
      }
      if (ok.length > 0) deps.onScreenLatency(ok);
    });
    socket.on('disconnect', () => metrics.liveClients.dec());
  });

  return {
    io,
    nsp,
    adapter: adapterKind,
    localRooms: () => rooms,
    onRoomsChanged: (cb) => void roomListeners.push(cb),
    redisStatus: () => (redis === undefined ? 'n/a' : redis.pub.status === 'ready' ? 'up' : 'down'),
    close: async () => {
      await new Promise<void>((resolve) => {
        // io.close() disconnects every client (they reconnect to another worker and refill over
        // REST), closes the adapters, and closes the http server (already closing, harmless).
        void io.close(() => resolve());
      });
      if (redis !== undefined) {
        redis.pub.disconnect();
        redis.sub.disconnect();
      }
    },
  };
}

/**
 * Publisher and subscriber for the redis adapter. The publisher fails fast while Redis is down
 * (`enableOfflineQueue: false`): a live update that cannot be sent now is worthless later, and the
 * default offline queue grows without bound and replays stale broadcasts (NOTES.md §3, §6). The
 * adapters call `publish()` and the (un)subscribe commands without a catch, so a rejection would be
 * unhandled: every publish is wrapped to count the failure, every (un)subscribe to drop it. The
 * subscriber keeps its offline queue (a room joined while Redis is down is subscribed when it is
 * back), so the commands it queued reject with "Connection is closed." when it is disconnected
 * mid-reconnect, which is what closing a worker while Redis is down or hung does.
 */
export async function connectAdapterClients(url: string, log: Logger, onPublishError: () => void): Promise<{ pub: Redis; sub: Redis }> {
  const pub = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  const sub = new Redis(url, { lazyConnect: true });
  let down = false;
  const onError = (err: Error): void => {
    if (!down) log.warn({ err }, 'live adapter lost Redis; live updates are dropped until it is back');
    down = true;
  };
  pub.on('error', onError);
  sub.on('error', onError);
  pub.on('ready', () => {
    if (down) log.info('live adapter reconnected to Redis');
    down = false;
  });
  neverReject(pub, ['publish', 'spublish'], onPublishError);
  neverReject(sub, ['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe'], () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  return { pub, sub };
}

type AdapterCommand = 'publish' | 'spublish' | 'subscribe' | 'psubscribe' | 'ssubscribe' | 'unsubscribe' | 'punsubscribe' | 'sunsubscribe';

/** Make the named commands never reject (the adapters don't catch): call `onError` and resolve 0. */
export function neverReject(client: Redis, names: readonly AdapterCommand[], onError: () => void): void {
  for (const name of names) {
    const orig = client[name].bind(client) as (...args: unknown[]) => Promise<unknown>;
    const guarded = (...args: unknown[]): Promise<unknown> =>
      orig(...args).catch(() => {
        onError();
        return 0;
      });
    Object.defineProperty(client, name, { value: guarded, configurable: true, writable: true });
  }
}

async function supportsShardedPubSub(pub: Redis): Promise<boolean> {
  const info = await pub.info('server');
  const m = /redis_version:(\d+)\./.exec(info);
  // Sharded pub/sub needs Redis 7.0 (bookworm ships 7.0.15).
  return m !== null && Number(m[1]) >= 7;
}

/** Host part of a node id: workers on several hosts share slot numbers. */
export const hostName = os.hostname();

/**
 * Worker composition root: the ONLY place that news-up concrete classes (STYLE.md §2).
 * Builds store → sink → ingest/query handlers → dual-protocol server, registers with the
 * primary, and shuts down in reverse order.
 */
import { Registry } from 'prom-client';
import type { ResolvedConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { createWorkerMetrics, observeRedisOp } from '../observability/metrics.js';
import { ErrorCode } from '../errors.js';
import { IPC_SOURCE, RpcOp, type WorkerReady } from '../protocol/ipc.js';
import { MemoryPartition } from '../state/memory.js';
import { PartitionedStore } from '../state/partitioned.js';
import { workerDial, type Ownership } from '../state/ownership.js';
import { serveHandoff } from '../state/handoff.js';
import type { StateStore } from '../state/store.js';
import { Aggregator } from '../aggregate/aggregator.js';
import { GroupCommitStore } from '../aggregate/group-commit.js';
import { RedisStateStore } from '../state/redis.js';
import { WriteAffinityStore } from '../state/write-affinity.js';
import { createPushHandler } from '../ingest/http.js';
import { rejectUpgrade, StreamServer, STREAM_PATH } from '../ingest/ws.js';
import { TurnBudget } from '../ingest/turn-budget.js';
import { RateLimiter } from '../ingest/rate-limit.js';
import { SeriesLimitLog, type SeriesLimitView } from '../ingest/series-limit-log.js';
import { AccessControl } from '../http/auth.js';
import { createRouter } from '../http/router.js';
import { DualServer } from '../http/server.js';
import { Forwarder, type ApplyResult } from './forwarder.js';
import { Peers } from './peers.js';
import { ConnectionHandoff } from './connection-handoff.js';
import { PeerLinks, type SeqOp } from './peer-link.js';
import { SlotBatcher, type SlotResults } from './slot-batcher.js';
import { createLiveServer } from '../broadcast/io.js';
import { Broadcaster } from '../broadcast/broadcaster.js';
import { createStaticFiles } from '../http/static-files.js';

/** What /admin/cluster shows per worker. */
export interface WorkerStatus {
  id: number;
  pid: number;
  address: string;
  uptimeS: number;
  samplesPerSec: number;
  connections: number;
  forwardedSamples: number;
  series: number;
  seriesBytes: number;
  /** Batches refused for state.maxSeries on this worker, and the sources they carried (most recent first). */
  seriesLimit: SeriesLimitView;
}

const SHUTDOWN_GRACE_MS = 3500;

/** Where this worker finds its peers (set by the primary). */
export interface WorkerOptions {
  /** Private directory (0700) of the instance's worker-to-worker Unix sockets. */
  linkDir: string;
}

export async function runWorker(cfg: ResolvedConfig, slot: number, log: Logger, opts: WorkerOptions): Promise<void> {
  const startedAt = Date.now();
  const registry = new Registry();
  registry.setDefaultLabels({ worker: String(slot) });
  const metrics = createWorkerMetrics(registry);
  const peers = new Peers(slot, log.child({ mod: 'peers' }));
  // One access check for push, stream, query and live (node/http/auth.ts; SECURITY.md).
  const access = new AccessControl({
    ingestKeys: cfg.auth.ingestKeys, readKeys: cfg.auth.readKeys, allowedOrigins: cfg.auth.allowedOrigins,
    onFailure: (role, reason) => metrics.authFailures.inc({ role, reason }),
  });
  const limiter = cfg.auth.rateLimit > 0 ? new RateLimiter(cfg.auth.rateLimit) : undefined;
  const seriesLimitLog = new SeriesLimitLog();
  const onSeriesLimit = (batch: Parameters<SeriesLimitLog['record']>[0]): void => seriesLimitLog.record(batch, Date.now());

  let forwardedTotal = 0;
  let closeLinks = (): void => {};
  let store: StateStore;
  /**
   * The membership that says where a source is stored (memory) or written (Redis): batches are split
   * by it, stream connections handed by it, and the push fast path hints each sample's owner under it.
   */
  let ownership: () => Ownership | undefined = () => undefined;
  if (cfg.state.mode === 'memory') {
    const partition = new MemoryPartition(cfg.retention, { maxSeries: cfg.state.maxSeries, streamSeqTtlMs: cfg.state.streamSeqTtlMs });
    // Forwarded samples and stream seq records travel worker-to-worker over Unix sockets, not through the primary.
    const links: PeerLinks = new PeerLinks(slot, opts.linkDir, {
      apply: (args): ApplyResult => partitioned.applyForwarded(args),
      seqOps: (ops): SlotResults<number> => partitioned.applySeqOps(ops),
    }, log.child({ mod: 'links' }));
    await links.listen();
    closeLinks = () => links.close();
    const forwarder = new Forwarder(links, cfg.ingest.applyTimeoutMs, () => metrics.forwardBatches.inc());
    const seqOps = new SlotBatcher<SeqOp, number>((to, ops) => links.seqOps(to, ops, cfg.ingest.applyTimeoutMs));
    const partitioned: PartitionedStore = new PartitionedStore(partition, peers, { forwarder, seqOps }, {
      workerPort: cfg.workerPort,
      timeoutMs: cfg.ingest.applyTimeoutMs,
      onForwarded: (n) => {
        forwardedTotal += n;
        metrics.forwardedSamples.inc(n);
      },
    });
    store = partitioned;
    ownership = () => partitioned.ownership();
    serveHandoff(partition, peers, cfg.workerPort);
    const sweep = setInterval(() => partition.sweep(Date.now()), 60_000);
    sweep.unref();
  } else {
    // Redis mode: stateless worker; group commit writes each tick's samples in one round trip.
    const redisStore = new RedisStateStore({
      state: cfg.state,
      retention: cfg.retention,
      commandTimeoutMs: cfg.ingest.applyTimeoutMs,
      log: log.child({ mod: 'redis' }),
      hooks: { onOp: (op, seconds, ok) => observeRedisOp(metrics, op, seconds, ok) },
    });
    const committed = new GroupCommitStore(redisStore, { intervalMs: cfg.state.commitIntervalMs });
    // Each source is written by one worker of the instance (state/write-affinity.ts): the others
    // forward their part over the peer links. Stream seqs live in Redis, so no seq ops come here.
    const links: PeerLinks = new PeerLinks(slot, opts.linkDir, {
      apply: (args) => affinity.applyForwarded(args),
      seqOps: (ops): SlotResults<number> => ops.map(() => ({ code: ErrorCode.INTERNAL, message: 'Redis mode keeps stream seqs in Redis' })),
    }, log.child({ mod: 'links' }));
    await links.listen();
    closeLinks = () => links.close();
    const forwarder = new Forwarder(links, cfg.ingest.applyTimeoutMs, () => metrics.forwardBatches.inc());
    const affinity: WriteAffinityStore = new WriteAffinityStore(committed, peers, forwarder, {
      workerPort: cfg.workerPort,
      onForwarded: (n) => {
        forwardedTotal += n;
        metrics.forwardedSamples.inc(n);
      },
    });
    store = affinity;
    ownership = () => affinity.ownership();
  }

  let stored = 0;
  const sink = new Aggregator(store, cfg.ingest.maxPendingSamples, log.child({ mod: 'aggregate' }), {
    onPendingChange: (n) => metrics.pendingSamples.set(n),
    // Shed samples are counted by the transport that answers for them (ingest/http.ts on its 503;
    // the stream retries OVERLOADED before giving up), not here: counting here too doubled them.
    onApplied: (seconds) => metrics.stateApplyDuration.observe({ store: cfg.state.mode }, seconds),
    onStored: (n) => {
      stored += n;
    },
  });

  metrics.bindReadings({ store: cfg.state.mode, stateReady: () => store.ready(), oldestPendingMs: () => sink.oldestPendingMs(Date.now()) });

  let connections = 0;
  let draining = false;
  // One bound on ingest work per event-loop turn for push and stream alike (turn-budget.ts), when set.
  const turns = cfg.ingest.turnBudgetMs > 0 ? new TurnBudget({ budgetMs: cfg.ingest.turnBudgetMs }) : undefined;
  const push = createPushHandler({ cfg: cfg.ingest, maxAgeMs: cfg.retention.coarseSpanMs, sink, metrics, now: Date.now, limiter, rateLimit: cfg.auth.rateLimit, onSeriesLimit, turns, owners: ownership });
  const router = createRouter({
    push,
    access,
    query: { store, retention: cfg.retention, now: Date.now },
    metrics,
    staticFiles: createStaticFiles(),
    log: log.child({ mod: 'http' }),
    // Scale-down: /healthz answers 503 so the balancer stops routing here before we stop listening.
    draining: () => draining,
    ready: () => (server.closing || draining ? { ready: false, reason: 'shutting down' } : store.ready() ? { ready: true } : { ready: false, reason: cfg.state.mode === 'redis' ? 'redis unavailable' : 'waiting for cluster membership' }),
  });
  const server = new DualServer(router, {
    // Above Caddy's upstream idle timeout, so Caddy never reuses a socket we just closed (NOTES §1.3).
    keepAliveTimeoutMs: 65_000,
    headersTimeoutMs: cfg.http.headersTimeoutMs,
    requestTimeoutMs: cfg.http.requestTimeoutMs,
    firstByteTimeoutMs: cfg.http.firstByteTimeoutMs,
    maxConnections: cfg.http.maxConnectionsPerWorker,
    onRefused: (reason) => metrics.httpRefusedConnections.inc({ reason }),
    log: log.child({ mod: 'http' }),
    onConnection: (protocol, delta) => {
      connections += delta;
      metrics.httpSessions.inc({ protocol }, delta);
      if (delta > 0) metrics.httpConnections.inc({ protocol }, delta);
    },
  });

  // Stream ingest (DESIGN.md §4): ws in noServer mode. Upgrades are routed by path so Socket.IO
  // keeps /socket.io/; a path nobody serves gets a 404 instead of a socket left hanging.
  const stream = new StreamServer({
    turns,
    cfg: cfg.stream, ingest: cfg.ingest, maxAgeMs: cfg.retention.coarseSpanMs, sink, store, metrics,
    log: log.child({ mod: 'stream' }), workerId: slot, access, limiter, onSeriesLimit,
  });
  const connHandoff = new ConnectionHandoff({
    slot, server, ownerOf: (source) => ownership()?.ownerOf(source), log: log.child({ mod: 'handoff' }),
    onHandoff: (outcome) => metrics.streamHandoffs.inc({ result: outcome }),
  });
  server.http.on('upgrade', (req, socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path === STREAM_PATH) {
      if (!draining && !server.closing && connHandoff.offer(req, socket, head)) return;
      stream.handleUpgrade(req, socket, head);
    }
    else if (!path.startsWith('/socket.io/')) rejectUpgrade(socket, 404, `no WebSocket endpoint at ${path.slice(0, 100)}`);
  });

  // Live layer (DESIGN.md §5): Socket.IO on the same http server (before listen, so no upgrade
  // arrives unhandled), then the broadcaster that feeds it from the store.
  let address = '';
  const live = await createLiveServer({
    cfg, httpServer: server.http, log: log.child({ mod: 'live' }), metrics, access,
    onScreenLatency: (s) => broadcaster.observeScreenLatency(s),
  });
  const broadcaster = new Broadcaster({
    live, store, cfg, slot, metrics, log: log.child({ mod: 'broadcast' }),
    status: () => ({
      id: slot, pid: process.pid, address, uptimeS: Math.round((Date.now() - startedAt) / 1000), samplesPerSec: Math.round(samplesPerSec),
      connections, forwardedShare: stored > 0 ? Math.min(1, forwardedTotal / stored) : 0, series: store.stats().series, seriesLimit: seriesLimitLog.view(),
    }),
  });

  // Samples/s as an exponentially smoothed rate, for /admin/cluster and the dashboard.
  let samplesPerSec = 0;
  let lastStored = 0;
  const rateTimer = setInterval(() => {
    samplesPerSec = 0.5 * samplesPerSec + 0.5 * (stored - lastStored);
    lastStored = stored;
    const st = store.stats();
    metrics.series.set(st.series);
    metrics.seriesBytes.set(st.bytes);
  }, 1000);
  rateTimer.unref();

  const caddy = cfg.balancer === 'caddy';
  const host = caddy ? workerDial(slot, cfg.workerPort).split(':')[0]! : cfg.host;
  const addr = await server.listen(caddy ? cfg.workerPort : cfg.port, host, caddy);
  address = `${addr.address}:${addr.port}`;
  broadcaster.start();

  peers.handle(RpcOp.PromMetrics, () => registry.getMetricsAsJSON());
  peers.handle(RpcOp.Drain, () => {
    if (draining) return null;
    draining = true;
    // Close each HTTP/1.1 connection after its next response, so keep-alive clients (node:cluster
    // mode talks to workers directly) reconnect elsewhere before this server stops listening,
    // instead of racing a request into a socket that is being closed.
    server.http.prependListener('request', (_req, res) => {
      res.shouldKeepAlive = false;
    });
    log.info('draining: leaving the cluster');
    return null;
  });
  peers.handle(RpcOp.Status, (): WorkerStatus => {
    const st = store.stats();
    return {
      id: slot, pid: process.pid, address: `${addr.address}:${addr.port}`, uptimeS: Math.round((Date.now() - startedAt) / 1000),
      samplesPerSec: Math.round(samplesPerSec), connections, forwardedSamples: forwardedTotal, series: st.series, seriesBytes: st.bytes,
      seriesLimit: seriesLimitLog.view(),
    };
  });

  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('worker draining');
    // Reverse start order: stop accepting and finish in-flight requests, then close the store.
    await stream.close(1500); // stop reading, apply and ack what was received, close 1001
    await broadcaster.close();
    await live.close();
    await server.close(SHUTDOWN_GRACE_MS);
    await store.close();
    closeLinks();
    connHandoff.close();
    peers.close();
    clearInterval(rateTimer);
    log.info('worker stopped');
    log.flush?.();
    process.exit(0);
  };
  peers.onShutdown(() => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  // Ctrl-C reaches the whole process group; the primary orchestrates the shutdown.
  process.on('SIGINT', () => {});
  process.on('disconnect', () => void shutdown());

  const ready: WorkerReady = { src: IPC_SOURCE, t: 'ready', slot, address: addr.address, port: addr.port };
  process.send!(ready);
  log.info({ address: `${addr.address}:${addr.port}` }, 'worker listening');
}

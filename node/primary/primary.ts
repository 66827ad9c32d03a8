/**
 * The primary: forks one worker per slot, restarts crashed ones with backoff, routes IPC between
 * them, serves the admin port, scales at run time, and shuts everything down in order.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { setupPrimary as setupSocketIoPrimary } from '@socket.io/cluster-adapter';
import { WORKER_CONFIG_ENV, WORKER_SLOT_ENV } from '../config/load.js';
import type { ResolvedConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { createPrimaryMetrics } from '../observability/metrics.js';
import { IPC_SOURCE, isIpc, type Members, type WorkerToPrimary } from '../protocol/ipc.js';
import { startAdmin } from './admin.js';
import { RpcRouter } from './rpc-router.js';
import { UpstreamHealth } from './upstream-health.js';
import { configSummary } from '../observability/config-summary.js';

/** What a balancer integration (balancer/) plugs into the primary. */
export interface BalancerHandle {
  /** Public URLs to print (plain, TLS). */
  urls: { http: string; https?: string };
  stop(): Promise<void>;
}

export interface PrimaryOptions {
  /** Start the balancer once workers listen (caddy mode); undefined = cluster mode. */
  startBalancer?: (cfg: ResolvedConfig, log: Logger) => Promise<BalancerHandle>;
  /** Start the demo fleet once ready (`--demo`). */
  startDemo?: (ingestUrl: string) => Promise<{ stop(): Promise<void> }>;
}

interface Slot {
  worker: Worker | undefined;
  ready: boolean;
  port: number;
  /** Wanted running (false once scaled away or shutting down). */
  wanted: boolean;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** A worker that stayed up this long is healthy again: its backoff resets. */
const HEALTHY_AFTER_MS = 30_000;
const SHUTDOWN_BUDGET_MS = 4500;

export async function runPrimary(cfg: ResolvedConfig, log: Logger, opts: PrimaryOptions = {}): Promise<void> {
  const registry = new Registry();
  const metrics = createPrimaryMetrics(registry);
  const router = new RpcRouter(Math.min(cfg.ingest.applyTimeoutMs, 4000));
  const slots = new Map<number, Slot>();
  let shuttingDown = false;
  let readyAnnounced = false;
  let desired = cfg.workers;
  const readyWaiters: Array<() => void> = [];

  cluster.setupPrimary({
    exec: fileURLToPath(new URL('../worker/entry.js', import.meta.url)),
    args: [],
    serialization: 'advanced',
  });
  // Relay of the Socket.IO cluster adapter (memory mode's live fan-out, node/broadcast/io.ts). It
  // only touches messages marked `source: '_sio_adapter'`; ours carry `src: 'fleetpulse'`.
  if (cfg.state.mode === 'memory') setupSocketIoPrimary();

  const announceMembers = (): void => {
    metrics.workersLive.set(router.slots.length);
    const msg: Members = { src: IPC_SOURCE, t: 'members', slots: router.slots };
    router.broadcast(msg);
  };

  const fork = (slot: number): void => {
    const s = slots.get(slot)!;
    s.ready = false;
    s.startedAt = Date.now();
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(cfg), [WORKER_SLOT_ENV]: String(slot) });
    s.worker = w;
    // A send racing the worker's death emits 'error' (ERR_IPC_CHANNEL_CLOSED) on the worker; with
    // no listener that would throw and take the whole primary down. The exit handler cleans up.
    w.on('error', (err) => log.debug({ err, slot }, 'worker IPC error'));
    w.on('message', (m: unknown) => {
      if (!isIpc(m)) return;
      const msg = m as WorkerToPrimary;
      if (msg.t === 'ready') {
        s.ready = true;
        s.port = msg.port;
        router.add(slot, w);
        announceMembers();
        checkAllReady();
      } else if (msg.t === 'rpc') router.handleRequest(msg);
      else if (msg.t === 'rpc:res') router.handleReply(msg);
    });
    w.on('exit', (code, signal) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      s.ready = false;
      router.remove(slot);
      announceMembers();
      for (const r of readyWaiters.splice(0)) r();
      if (shuttingDown || !s.wanted) {
        log.info({ slot, code, signal }, 'worker stopped');
        return;
      }
      // Crash: restart with exponential backoff (reset once a worker stayed healthy).
      if (Date.now() - s.startedAt > HEALTHY_AFTER_MS) s.backoffMs = BACKOFF_MIN_MS;
      s.restarts++;
      metrics.workerRestarts.inc();
      log.warn({ slot, code, signal, restartInMs: s.backoffMs, restarts: s.restarts }, 'worker exited unexpectedly; restarting');
      s.restartTimer = setTimeout(() => {
        s.restartTimer = undefined;
        if (!shuttingDown && s.wanted) fork(slot);
      }, s.backoffMs);
      s.backoffMs = Math.min(BACKOFF_MAX_MS, s.backoffMs * 2);
    });
  };

  const ensureSlot = (slot: number): Slot => {
    let s = slots.get(slot);
    if (s === undefined) {
      s = { worker: undefined, ready: false, port: 0, wanted: true, restarts: 0, backoffMs: BACKOFF_MIN_MS, startedAt: 0, restartTimer: undefined };
      slots.set(slot, s);
    }
    return s;
  };

  const checkAllReady = (): void => {
    for (const r of readyWaiters.splice(0)) r();
  };
  const waitReady = async (n: number, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (router.slots.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${router.slots.length} of ${n} workers became ready within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        readyWaiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  };

  const scale = async (n: number): Promise<{ workers: number }> => {
    desired = n;
    metrics.workersDesired.set(n);
    for (let slot = 0; slot < cfg.maxWorkers; slot++) {
      const s = slots.get(slot);
      if (slot < n) {
        const st = ensureSlot(slot);
        st.wanted = true;
        if (st.worker === undefined && st.restartTimer === undefined) fork(slot);
      } else if (s !== undefined && s.wanted) {
        s.wanted = false;
        if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
        s.worker?.send({ src: IPC_SOURCE, t: 'shutdown' });
      }
    }
    await waitReady(n, 15_000);
    log.info({ workers: n }, 'scaled');
    return { workers: n };
  };

  // Balancer upstream health per slot as the primary sees it (fleetpulse_balancer_upstream_up).
  const upstreams = new UpstreamHealth({
    cfg: { balancer: cfg.balancer, maxWorkers: cfg.maxWorkers, workerPort: cfg.workerPort, intervalMs: 1000, caddyAdminPort: 0 },
    metrics, log, members: () => router.slots,
  });
  const admin = await startAdmin(cfg.adminPort, {
    router, registry, metrics, maxWorkers: cfg.maxWorkers, scrapeTimeoutMs: 4000, scale, beforeScrape: () => upstreams.sync(),
    clusterInfo: () => ({ balancer: cfg.balancer, state: cfg.state.mode }),
  });

  // The whole configuration once, secrets redacted (observability/config-summary.ts).
  log.info({ workers: cfg.workers, balancer: cfg.balancer, balancerReason: cfg.balancerReason, state: cfg.state.mode, maxWorkers: cfg.maxWorkers, logLevel: cfg.logLevel, config: configSummary(cfg) }, 'starting');
  metrics.workersDesired.set(cfg.workers);
  for (let slot = 0; slot < cfg.workers; slot++) {
    ensureSlot(slot);
    fork(slot);
  }
  await waitReady(cfg.workers, 30_000);

  let balancer: BalancerHandle | undefined;
  if (opts.startBalancer !== undefined) balancer = await opts.startBalancer(cfg, log.child({ mod: 'balancer' }));
  // Probe once the balancer runs (its admin API, when enabled, exists only from now on).
  upstreams.start();
  const port = slots.get(0)!.port;
  const base = balancer?.urls.http ?? `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
  const adminUrl = `http://127.0.0.1:${admin.port}`;
  let demo: { stop(): Promise<void> } | undefined;
  if (opts.startDemo !== undefined) demo = await opts.startDemo(`${base}/api/v1/ingest`);
  readyAnnounced = true;
  log.info(
    { url: base, dashboardUrl: `${base}/`, ingestUrl: `${base}/api/v1/ingest`, streamUrl: `${base.replace(/^http/, 'ws')}/api/v1/stream`, tlsUrl: balancer?.urls.https, adminUrl, metricsUrl: `${adminUrl}/metrics`, workers: desired },
    'fleetpulse ready',
  );

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown budget exceeded; killing remaining workers');
      for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS + 400);
    hardStop.unref();
    await demo?.stop().catch(() => {});
    for (const s of slots.values()) if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
    const exits = [...slots.values()].filter((s) => s.worker !== undefined).map((s) => new Promise<void>((resolve) => s.worker!.once('exit', () => resolve())));
    router.broadcast({ src: IPC_SOURCE, t: 'shutdown' });
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, SHUTDOWN_BUDGET_MS - 500).unref())]);
    for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
    await balancer?.stop().catch(() => {});
    upstreams.stop();
    admin.server.close();
    log.info({ readyAnnounced }, 'stopped');
    log.flush?.();
    setTimeout(() => process.exit(0), 20).unref();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

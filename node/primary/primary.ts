/**
 * The primary: forks one worker per slot, restarts crashed ones with backoff, routes IPC between
 * them, serves the admin port, scales at run time, and shuts everything down in order.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Socket } from 'node:net';
import { Registry } from 'prom-client';
import { setupPrimary as setupSocketIoPrimary } from '@socket.io/cluster-adapter';
import { workerExecArgv } from './worker-flags.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKER_CONFIG_ENV, WORKER_LINK_DIR_ENV, WORKER_SLOT_ENV } from '../config/load.js';
import type { ResolvedConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { createPrimaryMetrics } from '../observability/metrics.js';
import { IPC_SOURCE, isIpc, RpcOp, type Members, type WorkerToPrimary } from '../protocol/ipc.js';
import { startAdmin } from './admin.js';
import { handOffPartition } from './handoff.js';
import { RpcRouter } from './rpc-router.js';
import { UpstreamHealth } from './upstream-health.js';
import { configSummary } from '../observability/config-summary.js';

/** What a balancer integration (balancer/) plugs into the primary. */
export interface BalancerHandle {
  /** Public URLs to print (plain, TLS). */
  urls: { http: string; https?: string };
  /**
   * How long a draining worker keeps serving before it stops listening, so the balancer's health
   * checks notice first (caddy: two health intervals). 0/undefined = no wait (node:cluster).
   */
  drainMs?: number;
  stop(): Promise<void>;
  /** Last resort when the primary exits abruptly: kill the balancer by PID, synchronously. */
  kill?(): void;
}

export interface PrimaryOptions {
  /** Resolve what must be fixed before workers fork (caddy: concrete ports for `0`). */
  prepareConfig?: (cfg: ResolvedConfig) => Promise<ResolvedConfig>;
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
/** node:cluster mode: how long a leaving worker answers with `Connection: close` before it stops listening. */
const CLUSTER_DRAIN_MS = 1000;
/** Scale-up: pause between the two rebalance passes (covers forwards in flight under the old membership). */
const REBALANCE_SETTLE_MS = 1000;

export async function runPrimary(cfg: ResolvedConfig, log: Logger, opts: PrimaryOptions = {}): Promise<void> {
  if (opts.prepareConfig !== undefined) cfg = await opts.prepareConfig(cfg);
  // Worker-to-worker Unix sockets live in a directory only this user can enter (mkdtemp: 0700).
  const linkDir = mkdtempSync(join(tmpdir(), 'fleetpulse-links-'));
  process.once('exit', () => rmSync(linkDir, { recursive: true, force: true }));
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

  /** Slots being scaled away: still registered (they drain and hand off) but no longer members. */
  const leaving = new Set<number>();
  let drainMs = 0;
  const members = (): number[] => router.slots.filter((slot) => !leaving.has(slot));
  const announceMembers = (): void => {
    const live = members();
    metrics.workersLive.set(live.length);
    const msg: Members = { src: IPC_SOURCE, t: 'members', slots: live };
    router.broadcast(msg);
  };

  const fork = (slot: number): void => {
    const s = slots.get(slot)!;
    s.ready = false;
    s.startedAt = Date.now();
    // Flags by the worker count at this fork (single-threaded GC once the workers fill the cores; a scale changes it).
    cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS, { workers: desired, cores: availableParallelism() }) });
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(cfg), [WORKER_SLOT_ENV]: String(slot), [WORKER_LINK_DIR_ENV]: linkDir });
    s.worker = w;
    // A send racing the worker's death emits 'error' (ERR_IPC_CHANNEL_CLOSED) on the worker; with
    // no listener that would throw and take the whole primary down. The exit handler cleans up.
    w.on('error', (err) => log.debug({ err, slot }, 'worker IPC error'));
    w.on('message', (m: unknown, handle: unknown) => {
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
      else if (msg.t === 'adopt' && handle instanceof Socket) router.relayConnection(msg, handle);
    });
    w.on('exit', (code, signal) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      s.ready = false;
      router.remove(slot);
      leaving.delete(slot);
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
      // Memory state lives in the worker: its partition is gone with it (docs/limits.md).
      if (cfg.state.mode === 'memory') metrics.partitionsLost.inc();
      log.warn({ slot, code, signal, restartInMs: s.backoffMs, restarts: s.restarts, partitionLost: cfg.state.mode === 'memory' }, 'worker exited unexpectedly; restarting');
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

  /**
   * Scale-down, in an order that loses nothing (node/state/handoff.ts): announce the membership
   * without the leaving slots (new samples go to their new owners), drain them (/healthz 503)
   * long enough for the balancer to stop routing to them, hand their partitions over (memory
   * mode), then stop them and wait for their exit.
   */
  const retire = async (going: number[]): Promise<void> => {
    for (const slot of going) leaving.add(slot);
    announceMembers();
    const live = going.filter((slot) => router.slots.includes(slot));
    await Promise.all(live.map((slot) => router.callFromPrimary(slot, RpcOp.Drain, null, 5000).catch((err: unknown) => log.warn({ err, slot }, 'drain request failed'))));
    if (drainMs > 0 && live.length > 0) await new Promise((r) => setTimeout(r, drainMs));
    if (cfg.state.mode === 'memory') {
      for (const slot of live) {
        await handOffPartition(router, slot, members(), log).catch((err: unknown) => log.error({ err, slot }, 'handoff failed; what was not handed off yet is lost'));
      }
    }
    await Promise.all(
      going.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const w = slots.get(slot)?.worker;
            if (w === undefined) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), 10_000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (w.isConnected()) w.send({ src: IPC_SOURCE, t: 'shutdown' });
          }),
      ),
    );
  };

  /**
   * Scale-up (memory mode): the sources a new worker now owns move to it from the staying
   * workers, so partitions stay disjoint. New samples already go to the new owner (membership was
   * announced when it became ready); a second pass picks up samples a peer forwarded under the
   * old membership while the first pass ran.
   */
  const rebalance = async (staying: number[]): Promise<void> => {
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1) await new Promise((r) => setTimeout(r, REBALANCE_SETTLE_MS));
      for (const slot of staying) {
        if (!members().includes(slot)) continue;
        await handOffPartition(router, slot, members(), log).catch((err: unknown) => log.error({ err, slot }, 'rebalance failed; the sources not moved stay split between two partitions'));
      }
    }
  };

  const scaleTo = async (n: number): Promise<{ workers: number }> => {
    desired = n;
    metrics.workersDesired.set(n);
    const before = members();
    const going: number[] = [];
    for (let slot = 0; slot < cfg.maxWorkers; slot++) {
      const s = slots.get(slot);
      if (slot < n) {
        const st = ensureSlot(slot);
        st.wanted = true;
        if (st.worker === undefined && st.restartTimer === undefined) fork(slot);
      } else if (s !== undefined && s.wanted) {
        s.wanted = false;
        if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
        going.push(slot);
      }
    }
    if (going.length > 0) await retire(going);
    await waitReady(n, 15_000);
    const staying = before.filter((slot) => slot < n);
    if (cfg.state.mode === 'memory' && staying.length > 0 && members().some((slot) => !before.includes(slot))) await rebalance(staying);
    log.info({ workers: n }, 'scaled');
    return { workers: n };
  };
  // One scale operation at a time (a handoff must finish before the next membership change).
  let scaling: Promise<unknown> = Promise.resolve();
  const scale = (n: number): Promise<{ workers: number }> => {
    const run = scaling.then(() => scaleTo(n));
    scaling = run.catch(() => {});
    return run;
  };

  // Balancer upstream health per slot as the primary sees it (fleetpulse_balancer_upstream_up).
  const upstreams = new UpstreamHealth({
    cfg: { balancer: cfg.balancer, maxWorkers: cfg.maxWorkers, workerPort: cfg.workerPort, intervalMs: cfg.caddy.healthIntervalMs, caddyAdminPort: cfg.caddy.adminPort },
    metrics, log, members,
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
  drainMs = balancer?.drainMs ?? CLUSTER_DRAIN_MS;
  // Probe once the balancer runs (its admin API, when enabled, exists only from now on).
  upstreams.start();
  // A balancer child must not outlive an abruptly exiting primary.
  process.once('exit', () => balancer?.kill?.());
  const port = slots.get(0)!.port;
  const base = balancer?.urls.http ?? `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
  const adminUrl = `http://127.0.0.1:${admin.port}`;
  let demo: { stop(): Promise<void> } | undefined;
  if (opts.startDemo !== undefined) demo = await opts.startDemo(`${base}/api/v1/ingest`);
  readyAnnounced = true;
  // Always announced, whatever the log level: scripts and tests wait for this line.
  log.child({}, { level: 'info' }).info(
    { url: base, dashboardUrl: `${base}/`, ingestUrl: `${base}/api/v1/ingest`, streamUrl: `${base.replace(/^http/, 'ws')}/api/v1/stream`, tlsUrl: balancer?.urls.https, adminUrl, metricsUrl: `${adminUrl}/metrics`, workers: desired, balancer: cfg.balancer, balancerReason: cfg.balancerReason },
    'fleetpulse ready',
  );

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      log.error('shutdown budget exceeded; killing remaining workers');
      for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
      balancer?.kill?.();
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS + 400);
    hardStop.unref();
    await demo?.stop().catch(() => {});
    for (const s of slots.values()) if (s.restartTimer !== undefined) clearTimeout(s.restartTimer);
    const exits = [...slots.values()].filter((s) => s.worker !== undefined).map((s) => new Promise<void>((resolve) => s.worker!.once('exit', () => resolve())));
    // The balancer stops accepting at once and finishes its in-flight requests while the workers drain theirs.
    const balancerStopped = balancer?.stop().catch(() => {});
    router.broadcast({ src: IPC_SOURCE, t: 'shutdown' });
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, SHUTDOWN_BUDGET_MS - 500).unref())]);
    // A worker still here missed the budget: killing it skips its store's close, so say which one
    // (a shutdown that hung in every worker that had handed a stream over went unnoticed at info).
    const stuck = [...slots].filter(([, s]) => s.worker !== undefined).map(([slot]) => slot);
    if (stuck.length > 0) log.warn({ slots: stuck, budgetMs: SHUTDOWN_BUDGET_MS - 500 }, 'workers did not stop within the shutdown budget; killing them');
    for (const s of slots.values()) s.worker?.process.kill('SIGKILL');
    await balancerStopped;
    upstreams.stop();
    admin.server.close();
    log.info({ readyAnnounced }, 'stopped');
    log.flush?.();
    setTimeout(() => process.exit(0), 20).unref();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}


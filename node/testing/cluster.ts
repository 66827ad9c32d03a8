/**
 * Start a real FleetPulse (primary + workers, and Caddy in caddy mode) from the compiled CLI,
 * as tests and benches do. Waits for the "fleetpulse ready" log line and returns its URLs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnProcess, type Spawned } from './process.js';

export const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export interface ClusterOptions {
  workers?: number;
  balancer?: 'caddy' | 'cluster';
  state?: 'memory' | 'redis';
  redisUrl?: string;
  /** Extra CLI flags. */
  args?: string[];
  /** Extra env (FLEETPULSE_CONFIG for deep overrides, keys…). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Node flags for the primary; workers inherit them (e.g. --cpu-prof for profiling). */
  nodeArgs?: string[];
}

export interface RunningCluster {
  proc: Spawned;
  /** Public base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  adminUrl: string;
  /** The parsed "fleetpulse ready" log line. */
  ready: Record<string, unknown>;
  /** Caddy mode: the TLS (h1 + h2) base URL and Caddy's private state directory (its root CA is under it). */
  tlsUrl?: string;
  caddyDataDir?: string;
  stop(): Promise<number | null>;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<RunningCluster> {
  if (opts.balancer !== 'caddy') return startOnce(opts, [], {});
  // Caddy mode: every port is picked free by the primary (--port/--tls-port 0, worker port 0 on
  // 127.0.0.2…), and Caddy keeps its CA in a temp dir. Another process may grab a picked port
  // before Caddy or a worker binds it: retry a few times on EADDRINUSE.
  for (let attempt = 0; ; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'fleetpulse-caddy-'));
    try {
      const c = await startOnce(opts, ['--tls-port', '0'], { FLEETPULSE_WORKER_PORT: '0', FLEETPULSE_CADDY_DATA_DIR: dataDir });
      c.caddyDataDir = dataDir;
      if (typeof c.ready.tlsUrl === 'string') c.tlsUrl = c.ready.tlsUrl;
      const stop = c.stop;
      c.stop = async () => {
        const code = await stop();
        rmSync(dataDir, { recursive: true, force: true });
        return code;
      };
      return c;
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      if (attempt < 2 && /EADDRINUSE|address already in use/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startOnce(opts: ClusterOptions, extraArgs: string[], extraEnv: Record<string, string>): Promise<RunningCluster> {
  const args = [...(opts.nodeArgs ?? []), CLI, 'start', '--port', '0', '--admin-port', '0', '--workers', String(opts.workers ?? 2), '--balancer', opts.balancer ?? 'cluster', '--state', opts.state ?? 'memory', ...extraArgs];
  if (opts.redisUrl !== undefined) args.push('--redis', opts.redisUrl);
  args.push(...(opts.args ?? []));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), FLEETPULSE_LOG_LEVEL: 'info', ...extraEnv, ...opts.env };
  const proc = spawnProcess(process.execPath, args, { env });
  let line: string;
  try {
    line = await proc.waitForLine(/"msg":"fleetpulse ready"/, opts.readyTimeoutMs ?? 30_000, 'fleetpulse cluster');
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  const ready = JSON.parse(line) as Record<string, unknown>;
  return { proc, url: String(ready.url), adminUrl: String(ready.adminUrl), ready, stop: () => proc.stop() };
}

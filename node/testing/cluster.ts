/**
 * Start a real FleetPulse (primary + workers, and Caddy in caddy mode) from the compiled CLI,
 * as tests and benches do. Waits for the "fleetpulse ready" log line and returns its URLs.
 */
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
}

export interface RunningCluster {
  proc: Spawned;
  /** Public base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  adminUrl: string;
  /** The parsed "fleetpulse ready" log line. */
  ready: Record<string, unknown>;
  stop(): Promise<number | null>;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<RunningCluster> {
  const args = [CLI, 'start', '--port', '0', '--admin-port', '0', '--workers', String(opts.workers ?? 2), '--balancer', opts.balancer ?? 'cluster', '--state', opts.state ?? 'memory'];
  if (opts.redisUrl !== undefined) args.push('--redis', opts.redisUrl);
  args.push(...(opts.args ?? []));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), FLEETPULSE_LOG_LEVEL: 'info', ...opts.env };
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

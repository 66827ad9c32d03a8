/**
 * Caddy in front of any upstream, as the bench's control for what the proxy hop costs by itself:
 * the same Caddy build, GOGC and upstream transport FleetPulse's ingest route uses (HTTP/1.1,
 * pooled keep-alive connections; balancer/caddyfile.ts), nothing else in the route. Started on a
 * free loopback port with its own data and config directories, stopped by PID, directories removed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CADDY_GOGC } from '../../balancer/caddy.js';
import { h1TransportLines } from '../../balancer/caddyfile.js';
import { requireBinary } from '../../node/testing/binaries.js';
import { freePort } from '../../node/testing/ports.js';
import { spawnProcess, type Spawned } from '../../node/testing/process.js';
import { until } from '../../node/testing/until.js';

export interface CaddyFront {
  url: string;
  pid: number;
  proc: Spawned;
  stop(): Promise<void>;
}

/** Caddy on a free port proxying everything to `upstream` (host:port). */
export async function startCaddyFront(upstream: string): Promise<CaddyFront> {
  const bin = requireBinary('caddy');
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-caddy-front-'));
  try {
    const port = await freePort();
    const caddyfile = join(dir, 'Caddyfile');
    writeFileSync(caddyfile, [
      '{', '\tadmin off', '\tauto_https off', '}',
      `http://127.0.0.1:${port} {`,
      `\treverse_proxy ${upstream} {`, ...h1TransportLines().map((line) => `\t\t${line}`), '\t}',
      '}', '',
    ].join('\n'));
    const proc = spawnProcess(bin, ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      env: { GOGC: CADDY_GOGC, ...process.env, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    });
    const url = `http://127.0.0.1:${port}`;
    await until(`caddy front on ${port} answering`, 15_000, async () => {
      try {
        await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        return true;
      } catch {
        return false;
      }
    }, 100);
    return {
      url,
      pid: proc.child.pid!,
      proc,
      stop: async () => {
        await proc.stop(3000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

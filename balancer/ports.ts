/**
 * Concrete ports for the caddy topology. Caddy cannot report a port it picked itself (its admin
 * API is off), and every worker slot must use the same port on its own loopback address, so a
 * `0` (any free port) is resolved here, before the workers are forked and Caddy's config is
 * rendered. A port can still be taken by someone else before it is used; the caller then fails
 * with EADDRINUSE and a clear message (tests retry).
 */
import net from 'node:net';
import type { ResolvedConfig } from '../node/config/schema.js';
import { workerDial } from '../node/state/ownership.js';

/** Listen on `host:port` (0 = any) and close again; resolves with the port, or null if taken. */
function probe(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen({ host, port, exclusive: true }, () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

/** Is `port` free on every one of `hosts`? */
export async function portFreeOnAll(hosts: readonly string[], port: number): Promise<boolean> {
  for (const h of hosts) if ((await probe(h, port)) === null) return false;
  return true;
}

/** A port free on every one of `hosts` (bounded attempts). */
export async function pickPort(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await probe(hosts[0] ?? '127.0.0.1', 0);
    if (p !== null && (await portFreeOnAll(hosts.slice(1), p))) return p;
  }
  throw new Error(`no port is free on all of ${hosts.join(', ')} after 50 attempts`);
}

/** Loopback address of every declared worker slot. */
export function slotHosts(maxWorkers: number): string[] {
  return Array.from({ length: maxWorkers }, (_, slot) => workerDial(slot, 0).split(':')[0]!);
}

/** The config with port/tlsPort/workerPort 0 replaced by free ports (caddy balancer only). */
export async function resolveCaddyPorts(cfg: ResolvedConfig): Promise<ResolvedConfig> {
  if (cfg.balancer !== 'caddy' || (cfg.port !== 0 && cfg.tlsPort !== 0 && cfg.workerPort !== 0)) return cfg;
  const publicHost = cfg.host === 'localhost' ? '127.0.0.1' : cfg.host;
  const port = cfg.port === 0 ? await pickPort([publicHost]) : cfg.port;
  let tlsPort = cfg.tlsPort;
  if (tlsPort === 0) do tlsPort = await pickPort([publicHost]); while (tlsPort === port);
  const workerPort = cfg.workerPort === 0 ? await pickPort(slotHosts(cfg.maxWorkers)) : cfg.workerPort;
  return Object.freeze({ ...cfg, port, tlsPort, workerPort });
}

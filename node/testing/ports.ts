/**
 * Free ports for processes that cannot listen on port 0 themselves (redis-server, caddy).
 * A port is reserved by listening on 0 and closing; callers retry on EADDRINUSE (a race with
 * another process is possible but rare).
 */
import net from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolve once `host:port` accepts a TCP connection; reject after `timeoutMs` with a clear message. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000, what = 'server'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not accept connections on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

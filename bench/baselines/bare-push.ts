/**
 * The bare-Node baseline of bench/push: the same number of node:cluster workers on one shared
 * port doing only what any JSON ingest must do — read the body, JSON.parse it, sum the values —
 * and answer 202. FleetPulse's numbers are reported as a ratio of this, measured in the same run.
 * Usage: node bare-push.js <workers>   (prints "listening <port>")
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const workers = Number(process.argv[2] ?? '2');

function sum(doc: unknown): number {
  let n = 0;
  const items = Array.isArray(doc) ? doc : [doc];
  let total = 0;
  for (const s of items as Array<{ value?: unknown }>) {
    if (typeof s.value === 'number') {
      total += s.value;
      n++;
    }
  }
  return total === Number.POSITIVE_INFINITY ? -1 : n;
}

if (cluster.isPrimary) {
  let ready = 0;
  let port = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m: { port: number }) => {
      port = m.port;
      if (++ready === workers) process.stdout.write(`listening ${port}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let n = 0;
      try {
        n = sum(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const body = `{"accepted":${n}}`;
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

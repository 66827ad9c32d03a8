/**
 * The raw-`ws` baseline of bench/stream: the same number of node:cluster workers on one shared
 * port, a `ws` server with FleetPulse's settings (no compression, same maxPayload), doing only
 * what any JSON stream ingest must do — JSON.parse each message and count its samples — and
 * answering the cumulative `{"ack":seq}` the agent waits for, throttled like FleetPulse's acks
 * (at once if the last ack is 50 ms old or 1,000 samples piled up, else at most 50 ms later).
 * No validation, no state, no exactly-once bookkeeping: the ceiling FleetPulse is measured against.
 * Usage: node bare-stream.js <workers>   (prints "listening <port>")
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const workers = Number(process.argv[2] ?? '2');
const ACK_INTERVAL_MS = 50;
const ACK_EVERY_SAMPLES = 1000;

/** Samples in one message: wide objects count their metrics. */
function countSamples(doc: unknown): number {
  const items = Array.isArray(doc) ? doc : Array.isArray((doc as { samples?: unknown }).samples) ? ((doc as { samples: unknown[] }).samples) : [doc];
  let n = 0;
  for (const s of items as Array<{ metrics?: Record<string, unknown> }>) n += s.metrics === undefined ? 1 : Object.keys(s.metrics).length;
  return n;
}

if (cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m: { port: number }) => {
      if (++ready === workers) process.stdout.write(`listening ${m.port}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server, maxPayload: 1024 * 1024, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws) => {
    let seq = 0;
    let acked = 0;
    let lastAckAt = 0;
    let since = 0;
    let timer: NodeJS.Timeout | undefined;
    const ack = (): void => {
      timer = undefined;
      if (seq <= acked) return;
      acked = seq;
      lastAckAt = Date.now();
      since = 0;
      ws.send(`{"ack":${seq}}`);
    };
    ws.on('error', () => {});
    ws.on('message', (data) => {
      let doc: unknown;
      try {
        doc = JSON.parse(String(data));
      } catch {
        ws.send('{"error":{"code":"invalid_json","message":"bad json"}}');
        return;
      }
      const s = (doc as { seq?: unknown }).seq;
      seq = typeof s === 'number' ? s : seq + 1;
      since += countSamples(doc);
      const wait = lastAckAt + ACK_INTERVAL_MS - Date.now();
      if (wait <= 0 || since >= ACK_EVERY_SAMPLES) {
        if (timer !== undefined) clearTimeout(timer);
        ack();
      } else timer ??= setTimeout(ack, wait);
    });
    ws.on('close', () => {
      if (timer !== undefined) clearTimeout(timer);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

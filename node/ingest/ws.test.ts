/**
 * StreamServer on a real HTTP server (port 0) over the real Aggregator and MemoryStateStore:
 * acks, errors, exactly-once resume (leases), back-pressure, heartbeat, limits, auth, shutdown.
 * The multi-worker behaviour (resume on another worker, 1,000 connections, floods) is in
 * node/integration/stream*.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import defaults from '../../cluster.config.js';
import type { StreamConfig } from '../config/schema.js';
import { Aggregator } from '../aggregate/aggregator.js';
import { createLogger } from '../observability/logger.js';
import { createWorkerMetrics } from '../observability/metrics.js';
import type { SampleBatch } from '../protocol/samples.js';
import { MemoryStateStore } from '../state/memory.js';
import { connectStream } from '../testing/ws-client.js';
import { leaseKey } from './stream-lease.js';
import { rejectUpgrade, StreamServer, STREAM_PATH } from './ws.js';
import { AccessControl } from '../http/auth.js';
import { RateLimiter } from './rate-limit.js';

/** The real memory store; `hold()` makes applies wait until `release()` (a slow store, deterministically). */
class HeldStore extends MemoryStateStore {
  #gate: Promise<void> | undefined;
  #open: () => void = () => {};
  hold(): void {
    this.#gate = new Promise((r) => (this.#open = r));
  }
  release(): void {
    this.#gate = undefined;
    this.#open();
  }
  override async apply(batch: SampleBatch, receivedAt: number): Promise<void> {
    while (this.#gate !== undefined) await this.#gate;
    return super.apply(batch, receivedAt);
  }
}

interface Harness {
  url: string;
  store: HeldStore;
  stream: StreamServer;
  registry: Registry;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Samples of `metric` for `source` stored in the last 10 minutes. */
  count(metric: string, source: string): Promise<number>;
}

async function start(t: TestContext, stream: Partial<StreamConfig> = {}, opts: { keys?: string[]; applyTimeoutMs?: number; maxSeries?: number; rateLimit?: number } = {}): Promise<Harness> {
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const log = createLogger({ role: 'worker', level: 'silent', json: true });
  const store = new HeldStore(defaults.retention, { maxSeries: opts.maxSeries ?? 100_000, streamSeqTtlMs: 600_000 });
  const sink = new Aggregator(store, 1_000_000, log);
  const server = new StreamServer({
    cfg: { ...defaults.stream, ...stream }, ingest: { ...defaults.ingest, applyTimeoutMs: opts.applyTimeoutMs ?? 5000 },
    maxAgeMs: defaults.retention.coarseSpanMs, sink, store, metrics, log, workerId: 0, access: new AccessControl({ ingestKeys: opts.keys ?? [], readKeys: [], allowedOrigins: [] }),
    limiter: opts.rateLimit === undefined ? undefined : new RateLimiter(opts.rateLimit),
  });
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  httpServer.on('upgrade', (req, socket, head: Buffer) => {
    if ((req.url ?? '').split('?')[0] === STREAM_PATH) server.handleUpgrade(req, socket, head);
    else rejectUpgrade(socket, 404, 'no such endpoint');
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  t.after(async () => {
    store.release();
    await server.close(500);
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
  });
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    stream: server,
    registry,
    async metric(name, labels = {}) {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val));
      return Number(v?.value ?? 0);
    },
    async count(metric, source) {
      const now = Date.now();
      const ans = await store.series({ metric, source, ring: 'fine', fromMs: now - 600_000, toMs: now + 60_000, stepMs: 1000 });
      return ans.points.reduce((n, p) => n + p[1], 0);
    },
  };
}

/** Wait until a connection holds `stream`'s lease (it started applying). */
async function leaseHeld(h: Harness, stream: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const v = await h.store.streamSeq(leaseKey(stream));
    if (v > 0 && v % 2 === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no connection took the lease of ${stream} within 5 s`);
}

const sample = (seq: number, source = 'web-01', metric = 'cpu'): unknown => ({ seq, source, metric, value: seq });

test('acks are cumulative, in order, and only after the samples are in the store', async (t) => {
  const h = await start(t);
  const c = await connectStream(h.url);
  t.after(() => c.close());
  for (let i = 1; i <= 200; i++) c.send(sample(i));
  await c.waitAck(200);
  const acks = c.frames.filter((f) => f.ack !== undefined).map((f) => f.ack!);
  assert.deepEqual(acks, [...acks].sort((a, b) => a - b), 'acks never go backwards');
  assert.ok(acks.length < 200, `acks are batched (${acks.length} ack frames for 200 messages)`);
  assert.equal(await h.count('cpu', 'web-01'), 200);

  // Held store: nothing is acked until the apply resolved.
  h.store.hold();
  c.send(sample(201));
  c.send(sample(202));
  await new Promise((r) => setTimeout(r, 150)); // give a wrong early ack the chance to show up
  assert.equal(c.acked, 200, 'no ack while the store has not applied');
  h.store.release();
  await c.waitAck(202);
  assert.equal(await h.count('cpu', 'web-01'), 202);
  // Without seq the server numbers messages itself.
  const d = await connectStream(h.url);
  t.after(() => d.close());
  d.send({ source: 'a', metric: 'm', value: 1 });
  d.send([{ source: 'a', metric: 'm', value: 2 }, { source: 'a', metric: 'm', value: 3 }]);
  await d.waitAck(2);
});

test('a bad message gets an error frame with its seq; the connection stays open', async (t) => {
  const h = await start(t);
  const c = await connectStream(h.url);
  t.after(() => c.close());
  c.send(sample(1));
  c.send({ seq: 2, source: 'web-01', metric: 'cpu', value: 'NaN' });
  c.send('{not json');
  c.send({ seq: 3, source: 'bad source!', metric: 'cpu', value: 1 });
  c.send(sample(4));
  await c.waitAck(4);
  const errors = c.frames.filter((f) => f.error !== undefined);
  assert.deepEqual(errors.map((f) => [f.error!.code, f.seq]), [['invalid_sample', 2], ['invalid_json', undefined], ['invalid_sample', 3]]);
  assert.equal(errors[0]!.error!.field, 'value');
  assert.equal(c.ws.readyState, c.ws.OPEN);
  assert.equal(await h.count('cpu', 'web-01'), 2);
  assert.equal(await h.metric('fleetpulse_stream_messages_total', { result: 'rejected' }), 3);
});

test('a message the store refuses (series limit) is answered alone; the ones around it are applied', async (t) => {
  const h = await start(t, {}, { maxSeries: 5 });
  const c = await connectStream(h.url, { stream: 'limits' });
  t.after(() => c.close());
  const wide = (seq: number, source: string, n: number): unknown => ({ seq, source, metrics: Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i])) });
  c.send(wide(1, 'a', 3));
  await c.waitAck(1);
  h.store.hold(); // 3 and 4 queue up behind 2 and are then applied as one group
  c.send(wide(2, 'b', 1)); // 4 series: fits
  c.send(wide(3, 'c', 5)); // 9: over the limit
  c.send(wide(4, 'a', 3)); // existing series
  for (let i = 0; i < 500 && (await h.metric('fleetpulse_stream_unacked_samples')) < 9; i++) await new Promise((r) => setTimeout(r, 10));
  h.store.release();
  await c.waitAck(4);
  const errors = c.frames.filter((f) => f.error !== undefined);
  assert.deepEqual(errors.map((f) => [f.error!.code, f.seq]), [['series_limit', 3]]);
  assert.equal(await h.count('m0', 'a'), 2);
  assert.equal(await h.count('m0', 'b'), 1);
  assert.equal(await h.count('m0', 'c'), 0);
});

test('the original project message is acked with {ack_seq, ack_ts, sent_at} too', async (t) => {
  const h = await start(t);
  const c = await connectStream(h.url);
  t.after(() => c.close());
  const sentAt = Date.now();
  c.send({ seq: 1, server_name: 'legacy-1', cpu_usage: 42.5, memory_usage: 61, sent_at: sentAt });
  const f = await c.waitFrame((x) => x.ack_seq === 1, 'legacy ack');
  assert.equal(f.sent_at, sentAt);
  assert.ok(typeof f.ack_ts === 'number' && f.ack_ts >= sentAt);
  await c.waitAck(1);
  assert.equal(await h.count('cpu_usage', 'legacy-1'), 1);
  assert.equal(await h.count('memory_usage', 'legacy-1'), 1);
});

test('a named stream resumes exactly once: re-sent messages are acked, not applied again', async (t) => {
  const h = await start(t);
  const a = await connectStream(h.url, { stream: 'agent-7' });
  for (let i = 1; i <= 10; i++) a.send(sample(i, 'eo'));
  await a.waitAck(10);
  a.ws.terminate();
  await a.closed;

  const b = await connectStream(h.url, { stream: 'agent-7' });
  t.after(() => b.close());
  await b.waitAck(10); // told at once where the stream stands
  for (let i = 5; i <= 15; i++) b.send(sample(i, 'eo'));
  await b.waitAck(15);
  assert.equal(await h.count('cpu', 'eo'), 15);
  assert.equal(await h.metric('fleetpulse_stream_messages_total', { result: 'duplicate' }), 6);
  // Named streams need seq.
  b.send({ source: 'eo', metric: 'cpu', value: 1 });
  const err = await b.waitFrame((f) => f.error?.field === 'seq', 'seq error');
  assert.equal(err.error?.code, 'invalid_sample');
});

test('messages in flight when the socket dies are still applied and recorded', async (t) => {
  const h = await start(t);
  const a = await connectStream(h.url, { stream: 'inflight' });
  h.store.hold();
  for (let i = 1; i <= 20; i++) a.send(sample(i, 'fl'));
  // Wait until the server is applying them (it holds the stream's lease), then kill the client.
  await leaseHeld(h, 'inflight');
  a.ws.terminate();
  await a.closed;
  const reconnect = connectStream(h.url, { stream: 'inflight' });
  setTimeout(() => h.store.release(), 200);
  const b = await reconnect;
  t.after(() => b.close());
  // The reconnect waited for the release: resending everything applies nothing twice.
  for (let i = 1; i <= 25; i++) b.send(sample(i, 'fl'));
  await b.waitAck(25);
  assert.equal(await h.count('cpu', 'fl'), 25);
  assert.equal(await h.metric('fleetpulse_stream_seq_errors_total'), 0);
});

test('an idle stream records its seq and releases its lease while the connection stays open', async (t) => {
  const h = await start(t);
  const c = await connectStream(h.url, { stream: 'quiet' });
  t.after(() => c.close());
  for (let i = 1; i <= 3; i++) c.send(sample(i, 'q'));
  await c.waitAck(3);
  await leaseHeld(h, 'quiet');
  let lease = 0;
  for (let i = 0; i < 1000 && lease % 2 === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    lease = await h.store.streamSeq(leaseKey('quiet'));
  }
  assert.equal(lease % 2, 1, 'released after IDLE_RELEASE_MS');
  assert.equal(await h.store.streamSeq('quiet'), 3);
  // More traffic takes it again.
  c.send(sample(4, 'q'));
  await c.waitAck(4);
  assert.ok((await h.store.streamSeq(leaseKey('quiet'))) > lease);
});

test('a lease left by a vanished connection delays a resume only until it expires, and is counted', async (t) => {
  const h = await start(t);
  await h.store.setStreamSeq('stuck', 4);
  await h.store.setStreamSeq(leaseKey('stuck'), 2 * (Date.now() + 1500)); // held, never released
  const c = await connectStream(h.url, { stream: 'stuck' });
  t.after(() => c.close());
  await c.waitAck(4, 10_000);
  c.send(sample(5, 'st'));
  await c.waitAck(5);
  assert.equal(await h.metric('fleetpulse_stream_seq_errors_total'), 1);
  // The new connection now holds the lease itself.
  assert.equal((await h.store.streamSeq(leaseKey('stuck'))) % 2, 0);
});

test('back-pressure: past maxUnackedSamples the socket is paused, and resumed once drained', async (t) => {
  const h = await start(t, { maxUnackedSamples: 100 });
  const c = await connectStream(h.url, { stream: 'bp' });
  t.after(() => c.close());
  h.store.hold();
  const samples = Array.from({ length: 20 }, (_, i) => ({ source: 'bp', metric: `m${i}`, value: i }));
  for (let seq = 1; seq <= 60; seq++) c.send({ seq, samples });
  for (let i = 0; i < 300 && (await h.metric('fleetpulse_stream_pauses_total')) === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok((await h.metric('fleetpulse_stream_pauses_total')) >= 1, 'the connection was paused');
  const unacked = await h.metric('fleetpulse_stream_unacked_samples');
  assert.ok(unacked <= 100 + 60 * 20, `unacked bounded (${unacked})`);
  h.store.release();
  await c.waitAck(60);
  assert.equal(await h.count('m0', 'bp'), 60);
  assert.equal(await h.metric('fleetpulse_stream_unacked_samples'), 0);
});

test('heartbeat: a peer that does not answer pings is dropped', async (t) => {
  const h = await start(t, { heartbeatMs: 100 });
  const dead = await connectStream(h.url, { autoPong: false });
  const live = await connectStream(h.url);
  t.after(() => live.close());
  const closed = await Promise.race([dead.closed, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
  assert.ok(closed !== null, 'the silent peer was dropped');
  assert.equal(closed.code, 1006);
  assert.equal(live.ws.readyState, live.ws.OPEN);
  for (let i = 0; i < 200 && h.stream.connections !== 1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.stream.connections, 1);
});

test('close codes: 1013 past maxConnectionsPerWorker, 1009 frame too big, 1008 auth and bad stream id', async (t) => {
  const h = await start(t, { maxConnectionsPerWorker: 2, maxPayloadBytes: 1024 });
  const a = await connectStream(h.url);
  const b = await connectStream(h.url);
  t.after(() => {
    a.close();
    b.close();
  });
  const c = await connectStream(h.url);
  assert.equal((await c.closed).code, 1013);
  b.send({ seq: 1, samples: Array.from({ length: 40 }, () => ({ source: 'x', metric: 'm', value: 1 })) });
  assert.equal((await b.closed).code, 1009);
  const bad = await connectStream(h.url, { stream: 'no spaces' });
  assert.equal((await bad.closed).code, 1008);

  const k = await start(t, {}, { keys: ['s3cret-key-1'] });
  const anon = await connectStream(k.url);
  const refused = await anon.closed;
  assert.equal(refused.code, 1008);
  assert.match(refused.reason, /key/);
  const ok = await connectStream(k.url, { key: 's3cret-key-1' });
  t.after(() => ok.close());
  ok.send(sample(1));
  await ok.waitAck(1);
  const bearer = await connectStream(k.url, { headers: { authorization: 'Bearer s3cret-key-1' } });
  t.after(() => bearer.close());
  bearer.send(sample(1));
  await bearer.waitAck(1);
});

test('shutdown: what was received is applied and acked, then close 1001', async (t) => {
  const h = await start(t);
  const c = await connectStream(h.url, { stream: 'bye' });
  h.store.hold();
  for (let i = 1; i <= 30; i++) c.send(sample(i, 'bye'));
  await leaseHeld(h, 'bye');
  const closing = h.stream.close(5000);
  setTimeout(() => h.store.release(), 100);
  await closing;
  const { code } = await c.closed;
  assert.equal(code, 1001);
  assert.equal(c.acked, await h.store.streamSeq('bye'), 'the final seq was recorded');
  assert.equal((await h.store.streamSeq(leaseKey('bye'))) % 2, 1, 'and the stream released');
  assert.equal(await h.count('cpu', 'bye'), c.acked);
  assert.ok(c.acked >= 1);
});

test('rate limit: over the key\'s rate the connection is paused with a notice, nothing is dropped', async (t) => {
  const h = await start(t, {}, { keys: ['rate-key-1234', 'rate-key-5678'], rateLimit: 200 });
  const c = await connectStream(h.url, { key: 'rate-key-1234' });
  t.after(() => c.close());
  const started = Date.now();
  // 1,000 samples at 200/s with one second of burst: at least 4 s of pauses.
  for (let i = 1; i <= 10; i++) c.send({ seq: i, samples: Array.from({ length: 100 }, (_, j) => ({ source: `r-${j % 5}`, metric: 'rl', value: 1 })) });
  const notice = await c.waitFrame((f) => f.error?.code === 'rate_limited', 'a rate_limited notice');
  assert.equal(notice.seq, undefined, 'a notice, not the refusal of a message');
  // Another key has its own bucket and is not slowed down by the first.
  const other = await connectStream(h.url, { key: 'rate-key-5678' });
  t.after(() => other.close());
  other.send({ seq: 1, samples: Array.from({ length: 100 }, () => ({ source: 'o', metric: 'rl', value: 1 })) });
  await other.waitAck(1, 5000);
  await c.waitAck(10, 30_000);
  assert.ok(Date.now() - started >= 3000, `took ${Date.now() - started} ms, the rate was enforced`);
  let n = 0;
  for (let j = 0; j < 5; j++) n += await h.count('rl', `r-${j}`);
  assert.equal(n, 1000, 'every sample applied');
  assert.equal(c.frames.filter((f) => f.error !== undefined && f.error.code !== 'rate_limited').length, 0);
  assert.ok((await h.metric('fleetpulse_ingest_rate_limited_samples_total', { transport: 'ws' })) >= 500);
});

test('series limit on a stream: error frame for the message, its sources recorded, counter moves', async (t) => {
  const h = await start(t, {}, { maxSeries: 3 });
  const c = await connectStream(h.url);
  t.after(() => c.close());
  c.send({ seq: 1, samples: [{ source: 'a', metric: 'sl', value: 1 }, { source: 'b', metric: 'sl', value: 1 }] });
  c.send({ seq: 2, samples: [{ source: 'c', metric: 'sl', value: 1 }, { source: 'd', metric: 'sl', value: 1 }] });
  const f = await c.waitFrame((x) => x.error?.code === 'series_limit', 'a series_limit error frame');
  assert.equal(f.seq, 2);
  await c.waitAck(2);
  assert.equal(await h.metric('fleetpulse_ingest_series_limit_rejections_total', { transport: 'ws' }), 1);
});

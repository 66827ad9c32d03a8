/**
 * Stream ingest across a real 2-worker cluster (node:cluster shared port; memory state, and Redis):
 * exactly-once when a connection dies mid-flight and the client resumes on the *other* worker,
 * 1,000 concurrent stream connections, and the agent's reconnect-and-resume.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type RunningCluster } from '../testing/cluster.js';
import { connectStream, type TestStreamClient } from '../testing/ws-client.js';
import { redisFor } from '../testing/redis.js';
import { skipUnless } from '../testing/binaries.js';
import { until } from '../testing/until.js';
import { workerExits } from '../testing/log-lines.js';
import { Agent } from '../agent/agent.js';
import type { StreamLane } from '../agent/stream-lane.js';

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} → ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as T;
}

/** Sum of a metric's samples (every label set) in the cluster's /metrics. */
async function promTotal(c: RunningCluster, name: string, match = ''): Promise<number> {
  const text = await (await fetch(`${c.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{') || !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Samples stored for (metric, source) in the last 10 minutes: [count, sum]. */
async function stored(c: RunningCluster, metric: string, source: string): Promise<[number, number]> {
  const a = await getJson<{ points: number[][] }>(`${c.url}/api/v1/series?metric=${encodeURIComponent(metric)}&source=${encodeURIComponent(source)}&from=-10m`);
  return [a.points.reduce((n, p) => n + p[1]!, 0), a.points.reduce((n, p) => n + p[2]!, 0)];
}

/** Connect until the connection lands on a worker other than `not` (round-robin makes it quick). */
async function connectElsewhere(c: RunningCluster, stream: string, not: number): Promise<TestStreamClient> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const s = await connectStream(c.url, { stream });
    if (s.worker !== not) return s;
    s.ws.terminate();
    await s.closed;
  }
  throw new Error(`30 connections all landed on worker ${not}: is the cluster running 2 workers?`);
}

const SOURCES = 7;
/** 20 samples per message, so a round takes the server long enough to be killed mid-way. */
const PER_MSG = 20;
const msg = (seq: number): unknown => ({ seq, samples: Array.from({ length: PER_MSG }, (_, j) => ({ source: `eo-${(seq + j) % SOURCES}`, metric: 'eo.m', value: seq })) });

async function exactlyOnce(t: TestContext, state: 'memory' | 'redis'): Promise<void> {
  const redisUrl = await redisFor(t, state);
  // Acks after every applied group (no 50 ms throttle), so the first ack of a round arrives while
  // most of the round is still in flight.
  const c = await startCluster({
    workers: 2, state, ...(redisUrl === undefined ? {} : { redisUrl }),
    env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ stream: { ackIntervalMs: 1 } }) },
  });
  t.after(() => c.stop());
  const stream = `eo-${Date.now()}`;
  let last = 0;
  let worker = -1;
  let client: TestStreamClient | undefined;
  // Three rounds: each sends 300 new messages, dies after the first acks (the rest in flight),
  // reconnects to the other worker and re-sends *everything* from seq 1.
  for (let round = 1; round <= 3; round++) {
    client = round === 1 ? await connectStream(c.url, { stream }) : await connectElsewhere(c, stream, worker);
    if (round > 1) assert.notEqual(client.worker, worker, 'resumed on the other worker');
    worker = client.worker;
    // Re-send from the very beginning: the server must skip everything it applied.
    for (let s = 1; s <= last; s++) client.send(msg(s));
    if (round > 1) await client.waitAck(last); // the old part is acked without being applied
    const end = last + 300;
    for (let s = last + 1; s <= end; s++) client.send(msg(s));
    await client.waitFrame((f) => typeof f.ack === 'number' && f.ack > last, `a first ack in round ${round}`);
    const ackedAtKill = client.acked;
    client.ws.terminate(); // mid-flight: most of this round is sent but not acked
    await client.closed;
    t.diagnostic(`round ${round}: worker ${worker}, acked ${ackedAtKill} of ${end} when killed`);
    last = end;
  }
  // Final resume: re-send everything once more and wait for the last ack.
  client = await connectElsewhere(c, stream, worker);
  t.after(() => client?.close());
  for (let s = 1; s <= last; s++) client.send(msg(s));
  await client.waitAck(last, 30_000);

  let count = 0;
  let sum = 0;
  for (let i = 0; i < SOURCES; i++) {
    const [n, total] = await stored(c, 'eo.m', `eo-${i}`);
    count += n;
    sum += total;
  }
  assert.equal(count, last * PER_MSG, 'every message applied exactly once (no loss, no duplicate)');
  assert.equal(sum, (PER_MSG * last * (last + 1)) / 2);
  assert.ok((await promTotal(c, 'fleetpulse_stream_messages_total', 'result="duplicate"')) >= last, 'the re-sent messages were recognised as duplicates');
  assert.equal(await promTotal(c, 'fleetpulse_stream_seq_errors_total'), 0, 'no resume had to pass an unfinished claim');
}

test('exactly-once (memory state): kill a connection mid-flight, resume on the other worker, re-send everything', { timeout: 120_000 }, (t) => exactlyOnce(t, 'memory'));

test('exactly-once (redis state): the same, with the stream seqs and leases in Redis', { timeout: 120_000, skip: skipUnless('redis-server') }, (t) => exactlyOnce(t, 'redis'));

test('1,000 concurrent stream connections on 2 workers', { timeout: 120_000 }, async (t) => {
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  const N = 1000;
  const clients: TestStreamClient[] = [];
  t.after(() => {
    for (const s of clients) s.ws.terminate();
  });
  // Open in waves of 100 so the test does not measure SYN-queue overflow on a busy machine.
  for (let i = 0; i < N; i += 100) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) => connectStream(c.url, { stream: `many-${i + j}` })))));
  }
  assert.equal(clients.length, N);
  for (const [i, s] of clients.entries()) s.send({ seq: 1, source: `many-${i}`, metrics: { cpu: i % 100, mem: 50 } });
  await Promise.all(clients.map((s) => s.waitAck(1, 60_000)));
  const perWorker = [0, 0];
  for (const s of clients) perWorker[s.worker] = (perWorker[s.worker] ?? 0) + 1;
  t.diagnostic(`connections per worker: ${perWorker.join(' / ')}`);
  assert.ok(perWorker[0]! > 0 && perWorker[1]! > 0, 'both workers hold connections');
  assert.equal(await promTotal(c, 'fleetpulse_stream_connections'), N);
  const sources = await getJson<Array<{ source: string }>>(`${c.url}/api/v1/sources`);
  assert.equal(sources.filter((s) => s.source.startsWith('many-')).length, N);
  const summary = await getJson<{ sources: number }>(`${c.url}/api/v1/summary?metric=mem&window=5m`);
  assert.equal(summary.sources, N);
  // Everyone is still connected and answered: one more round on every connection.
  for (const [i, s] of clients.entries()) s.send({ seq: 2, source: `many-${i}`, metrics: { cpu: 1, mem: 51 } });
  await Promise.all(clients.map((s) => s.waitAck(2, 60_000)));
});

/**
 * Readiness for stream handoff: each worker learns the membership from the primary a moment after
 * the ready line; until then it serves a connection where it lands. Wait until two consecutive
 * connections of one source (which round-robin alone puts on different workers) end up together.
 */
async function handoffReady(c: RunningCluster): Promise<void> {
  await until('two connections of one source served by the same worker (membership known)', 15_000, async () => {
    const pair = [await connectStream(c.url, { headers: { 'x-source': 'own-warm' } }), await connectStream(c.url, { headers: { 'x-source': 'own-warm' } })];
    for (const s of pair) s.ws.terminate();
    await Promise.all(pair.map((s) => s.closed));
    return pair[0]!.worker === pair[1]!.worker;
  });
}

// Redis mode too: there the owner is the source's one writer (state/write-affinity.ts).
for (const state of ['memory', 'redis'] as const) test(`${state}: a stream with X-Source is served by its source owner: one worker for every connection of a source, nothing forwarded`, { timeout: 60_000, skip: state === 'redis' ? skipUnless('redis-server') : false }, async (t) => {
  const redisUrl = await redisFor(t, state);
  const c = await startCluster({ workers: 2, state, ...(redisUrl === undefined ? {} : { redisUrl }), env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  const clients: TestStreamClient[] = [];
  t.after(() => {
    for (const s of clients) s.ws.terminate();
  });
  await handoffReady(c);
  const baseline = await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"');
  const N = 30;
  // Two connections per source, opened one after the other: node:cluster's round-robin sends
  // them to different workers, and the handoff brings both to the owner.
  for (let i = 0; i < N; i++) {
    for (let k = 0; k < 2; k++) clients.push(await connectStream(c.url, { stream: `own-${i}-${k}`, headers: { 'x-source': `own-${i}` } }));
  }
  for (let i = 0; i < N; i++) assert.equal(clients[2 * i]!.worker, clients[2 * i + 1]!.worker, `both connections of own-${i} are on one worker`);
  assert.deepEqual(new Set(clients.map((s) => s.worker)), new Set([0, 1]), 'sources are spread over both workers');
  for (const [j, s] of clients.entries()) s.send({ seq: 1, source: `own-${Math.floor(j / 2)}`, metrics: { cpu: j } });
  await Promise.all(clients.map((s) => s.waitAck(1, 30_000)));
  assert.equal(await promTotal(c, 'fleetpulse_forwarded_samples_total'), 0, 'every sample was applied where its connection is');
  const sent = (await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"')) - baseline;
  t.diagnostic(`connections handed to their owner: ${sent} of ${2 * N}`);
  assert.ok(sent >= N / 2, `about half the connections were handed over (${sent})`);
  assert.equal(await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="failed"'), 0);
  assert.equal(await promTotal(c, 'fleetpulse_stream_connections'), 2 * N, 'a handed-over connection counts once, where it is served');
  for (let i = 0; i < N; i += 7) assert.deepEqual(await stored(c, 'cpu', `own-${i}`), [2, 2 * i + 2 * i + 1]);

  // No (or an unusable) X-Source: served where round-robin put it; samples of the other worker's
  // sources are forwarded as before.
  const plain = await connectStream(c.url, { stream: 'own-plain', headers: { 'x-source': 'not a source name' } });
  clients.push(plain);
  plain.send({ seq: 1, samples: Array.from({ length: N }, (_, i) => ({ source: `own-${i}`, metric: 'plain', value: i })) });
  await plain.waitAck(1, 30_000);
  assert.ok(await promTotal(c, 'fleetpulse_forwarded_samples_total') > 0, 'samples of sources the worker does not own were forwarded');
  assert.equal(await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"'), baseline + sent, 'no handoff without a valid X-Source');
});

test('a handed-over stream loses nothing its client sends the moment the handshake completes', { timeout: 60_000 }, async (t) => {
  // While a connection travels worker → primary → owner, each process holds a copy of its socket;
  // a copy that still reads would take the client's first frames from the kernel and drop them
  // (the ack then stops at the gap). Every client here writes a burst at once on 'open'.
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  await handoffReady(c);
  const baseline = await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"');
  const N = 40;
  const BURST = 20;
  const clients = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const s = await connectStream(c.url, { stream: `burst-${i}`, headers: { 'x-source': `burst-${i}` } });
    for (let seq = 1; seq <= BURST; seq++) s.send({ seq, source: `burst-${i}`, metrics: { n: seq } });
    return s;
  }));
  t.after(() => {
    for (const s of clients) s.ws.terminate();
  });
  const sent = (await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"')) - baseline;
  t.diagnostic(`connections handed to their owner: ${sent} of ${N}`);
  assert.ok(sent > 0, 'some connections were handed over');
  await Promise.all(clients.map((s, i) => s.waitAck(BURST, 20_000).catch(() => assert.fail(`burst-${i} (worker ${s.worker}): acked ${s.acked} of ${BURST}`))));
  assert.deepEqual(await stored(c, 'n', 'burst-0'), [BURST, (BURST * (BURST + 1)) / 2]);
});

test('workers that handed streams over still stop gracefully on SIGTERM (none is killed at the shutdown budget)', { timeout: 60_000 }, async (t) => {
  // A handed-over socket used to leave its http.Server waiting for the primary to confirm the copy
  // was closed, an answer that never came: Socket.IO's close (which closes that server) never
  // returned, and the primary SIGKILLed every such worker after its 4 s budget.
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'info' } });
  let stopped = false;
  t.after(() => (stopped ? undefined : c.stop()));
  await handoffReady(c);
  const baseline = await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"');
  const N = 8;
  const clients = await Promise.all(Array.from({ length: N }, (_, i) => connectStream(c.url, { stream: `bye-${i}`, headers: { 'x-source': `bye-${i}` } })));
  t.after(() => {
    for (const s of clients) s.ws.terminate();
  });
  for (const [i, s] of clients.entries()) s.send({ seq: 1, source: `bye-${i}`, metrics: { n: i } });
  await Promise.all(clients.map((s) => s.waitAck(1, 20_000)));
  const sent = (await promTotal(c, 'fleetpulse_stream_handoffs_total', 'result="sent"')) - baseline;
  t.diagnostic(`connections handed to their owner: ${sent} of ${N}`);
  assert.ok(sent > 0, 'some connections were handed over');
  // Half the clients leave first; the rest are still open when the cluster stops.
  await Promise.all(clients.slice(0, N / 2).map(async (s) => {
    s.ws.close();
    await until('a stream client closed', 10_000, () => s.ws.readyState === s.ws.CLOSED);
  }));
  const code = await c.stop();
  stopped = true;
  assert.equal(code, 0, 'the primary exited cleanly');
  assert.deepEqual(workerExits(c.proc.output()), [[0, 0, null], [1, 0, null]], 'each worker exited by itself, with code 0');
});

test('ingest.turnBudgetMs: stream messages and push bodies past a turn\'s budget wait for a later turn, in order, and all are applied once', { timeout: 60_000 }, async (t) => {
  // A 1 ms budget: nearly every burst overruns it, so the deferred path (queue, paused sockets,
  // release, resume) carries most of this traffic.
  const c = await startCluster({ workers: 1, env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ ingest: { turnBudgetMs: 1 } }) } });
  t.after(() => c.stop());
  const N = 20;
  const BURST = 30;
  const clients = await Promise.all(Array.from({ length: N }, (_, i) => connectStream(c.url, { stream: `turn-${i}` })));
  t.after(() => {
    for (const s of clients) s.ws.terminate();
  });
  const samples = (i: number, seq: number): unknown[] => Array.from({ length: 50 }, (_, k) => ({ source: `turn-${i}`, metric: `m${k % 5}`, value: seq }));
  for (let seq = 1; seq <= BURST; seq++) for (const [i, s] of clients.entries()) s.send({ seq, samples: samples(i, seq) });
  const pushes = Array.from({ length: 10 }, async (_, j) => {
    const res = await fetch(`${c.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Array.from({ length: 500 }, (_, k) => ({ source: 'turn-push', metric: 'p', value: j * 500 + k }))) });
    assert.equal(res.status, 202, await res.text());
  });
  await Promise.all([...clients.map((s) => s.waitAck(BURST, 30_000)), ...pushes]);
  for (const s of clients) assert.equal(s.frames.filter((f) => f.error !== undefined).length, 0, 'no error frames');
  // Every message applied once, in order: m0 of turn-3 holds seqs 1..BURST, 10 samples each.
  assert.deepEqual(await stored(c, 'm0', 'turn-3'), [10 * BURST, (10 * BURST * (BURST + 1)) / 2]);
  assert.deepEqual(await stored(c, 'p', 'turn-push'), [5000, (4999 * 5000) / 2]);
  const deferred = await promTotal(c, 'fleetpulse_ingest_deferred_total');
  t.diagnostic(`work that waited for a later turn: ${deferred}`);
  assert.ok(deferred > 0, 'the budget was overrun, and the deferred path ran');
});

test('agent: stream lanes that die mid-flight reconnect and resume without loss or duplicates', { timeout: 120_000 }, async (t) => {
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  const hosts = 12;
  const agent = new Agent({ url: c.url, transport: 'stream', sources: hosts, metrics: 3, rate: 20, prefix: 'resume-' });
  agent.start();
  // Kill every lane's socket a few times while it streams.
  const lanes = agent.lanes as StreamLane[];
  for (let k = 0; k < 3; k++) {
    const target = agent.stats.ackedSamples + 200;
    for (let i = 0; i < 200 && agent.stats.ackedSamples < target; i++) await new Promise((r) => setTimeout(r, 50));
    for (const lane of lanes) lane.terminate();
  }
  await new Promise((r) => setTimeout(r, 500));
  const summary = await agent.stop(20_000);
  t.diagnostic(JSON.stringify(summary));
  assert.equal(summary.fatal, null);
  assert.ok(summary.reconnects >= hosts, `lanes reconnected (${summary.reconnects})`);
  assert.equal(summary.unackedAtExit, 0, 'everything sent was acknowledged in the end');
  assert.equal(summary.dropped, 0);
  // cpu is one of the 3 metrics of every tick: stored cpu samples = acked ticks.
  let cpu = 0;
  for (let i = 1; i <= hosts; i++) cpu += (await stored(c, 'cpu', `resume-${String(i).padStart(4, '0')}`))[0];
  assert.equal(cpu * 3, summary.ackedSamples, 'stored exactly what was acked');
});

/**
 * Back-pressure under a flood. Two workers (memory state), so most samples belong to the other
 * worker and each apply waits for an IPC round trip: the store, not the parser, is the slower
 * stage, as with a busy owner or Redis. Both connections sit on the same worker and share its
 * event loop: one sends 2,000-sample messages as fast as TCP lets it, another sends one small
 * message every 100 ms. The flooder must be paused (reads stopped, the backlog left in TCP and
 * in the client), the worker's unacked samples and memory must stay bounded, nothing may be
 * lost, and the calm connection must keep getting acks *during* the flood. Assertions are on
 * bounds and ordering; latencies are reported, not asserted (the machine may be loaded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startCluster } from '../testing/cluster.js';
import { connectStream } from '../testing/ws-client.js';

const MAX_UNACKED = 5000;
const FLOOD_MSG_SAMPLES = 2000;
const FLOOD_MS = 5000;
const CLIENT_BUFFER_CAP = 8 * 1024 * 1024;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? '0') * 1024;
}

async function metricSum(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
};

test('a flooding connection is paused and bounded; another keeps getting acks', { timeout: 180_000 }, async (t) => {
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ stream: { maxUnackedSamples: MAX_UNACKED } }) } });
  t.after(() => c.stop());
  const flooder = await connectStream(c.url, { stream: 'flooder' });
  t.after(() => flooder.ws.terminate());
  let calm = await connectStream(c.url, { stream: 'calm' });
  for (let i = 0; i < 30 && calm.worker !== flooder.worker; i++) {
    calm.ws.terminate();
    await calm.closed;
    calm = await connectStream(c.url, { stream: 'calm' });
  }
  assert.equal(calm.worker, flooder.worker, 'both connections on one worker');
  t.after(() => calm.ws.terminate());
  const cluster = (await (await fetch(`${c.adminUrl}/admin/cluster`)).json()) as { workers: Array<{ id: number; pid: number }> };
  const pid = cluster.workers.find((w) => w.id === flooder.worker)!.pid;
  // Create the flood's series first, so the RSS baseline already holds them.
  const samples = JSON.stringify(Array.from({ length: FLOOD_MSG_SAMPLES }, (_, i) => ({ source: `flood-${i % 20}`, metric: `flood.m${i % 100}`, value: i })));
  flooder.send(`{"seq":1,"samples":${samples}}`);
  calm.send({ seq: 1, source: 'calm-1', metric: 'calm', value: 0 });
  await flooder.waitAck(1);
  await calm.waitAck(1);
  const rssBefore = await rssBytes(pid);

  // Calm: one message every 100 ms; note when each was sent and when its ack came.
  const calmSent = new Map<number, number>();
  const calmLatency: number[] = [];
  let calmSeq = 1;
  let calmAckedDuringFlood = 0;
  let flooding = true;
  calm.ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as { ack?: number };
    if (typeof f.ack !== 'number') return;
    for (const [seq, at] of calmSent) {
      if (seq > f.ack) continue;
      calmLatency.push(performance.now() - at);
      calmSent.delete(seq);
      if (flooding) calmAckedDuringFlood++;
    }
  });
  const calmTimer = setInterval(() => {
    calmSeq++;
    calmSent.set(calmSeq, performance.now());
    calm.send({ seq: calmSeq, source: 'calm-1', metric: 'calm', value: calmSeq });
  }, 100);

  // Flooder: send whenever the client's own buffer has room (bounded client memory too).
  let floodSeq = 1;
  let maxClientBuffered = 0;
  let maxUnacked = 0;
  let maxRss = rssBefore;
  const floodEnd = Date.now() + FLOOD_MS;
  const sampler = setInterval(() => {
    void rssBytes(pid).then((r) => (maxRss = Math.max(maxRss, r)), () => {});
    void metricSum(c.adminUrl, 'fleetpulse_stream_unacked_samples').then((u) => (maxUnacked = Math.max(maxUnacked, u)), () => {});
  }, 200);
  while (Date.now() < floodEnd) {
    while (flooder.ws.bufferedAmount < CLIENT_BUFFER_CAP && Date.now() < floodEnd) {
      floodSeq++;
      flooder.send(`{"seq":${floodSeq},"samples":${samples}}`);
    }
    maxClientBuffered = Math.max(maxClientBuffered, flooder.ws.bufferedAmount);
    await new Promise((r) => setTimeout(r, 5));
  }
  flooding = false;
  const calmSentDuringFlood = calmSeq - 1;
  clearInterval(calmTimer);
  const pauses = await metricSum(c.adminUrl, 'fleetpulse_stream_pauses_total');
  const ackedAtFloodEnd = flooder.acked;

  // Everything sent is eventually applied and acked, in order.
  await flooder.waitAck(floodSeq, 120_000);
  await calm.waitAck(calmSeq, 30_000);
  clearInterval(sampler);
  const acks = flooder.frames.filter((f) => typeof f.ack === 'number').map((f) => f.ack!);
  assert.deepEqual(acks, [...acks].sort((a, b) => a - b), 'flooder acks in order');
  const stored = (await (await fetch(`${c.url}/api/v1/series?metric=flood.m0&source=flood-0&from=-10m`)).json()) as { points: number[][] };
  // (flood.m0, flood-0) is i = 0, 100, …, 1900 of every message: 20 samples each.
  assert.equal(stored.points.reduce((n, p) => n + p[1]!, 0), floodSeq * 20, 'every flood message applied exactly once');

  t.diagnostic(`flood: ${floodSeq} messages x ${FLOOD_MSG_SAMPLES} samples (${((floodSeq * samples.length) / 2 ** 20).toFixed(0)} MiB), ${ackedAtFloodEnd} acked when the flood stopped`);
  t.diagnostic(`server: ${pauses} pauses, max unacked samples seen ${maxUnacked}, worker RSS ${(rssBefore / 2 ** 20).toFixed(0)} → max ${(maxRss / 2 ** 20).toFixed(0)} MiB; client buffered up to ${(maxClientBuffered / 2 ** 20).toFixed(1)} MiB`);
  t.diagnostic(`calm: ${calmAckedDuringFlood}/${calmSentDuringFlood} acked during the flood, ack latency p50 ${pct(calmLatency, 50).toFixed(1)} ms p99 ${pct(calmLatency, 99).toFixed(1)} ms`);

  assert.ok(pauses >= 1, 'the flooder was paused (reads stopped)');
  assert.ok(maxClientBuffered > 1024 * 1024, 'the backlog stayed in TCP and the client, not in the server');
  // The connection's bound, plus at most what ws had already read before the pause took effect.
  assert.ok(maxUnacked <= MAX_UNACKED + 3 * FLOOD_MSG_SAMPLES + 50, `unacked samples bounded (max seen ${maxUnacked})`);
  assert.ok(maxRss - rssBefore < 300 * 2 ** 20, `worker memory bounded (grew ${((maxRss - rssBefore) / 2 ** 20).toFixed(0)} MiB)`);
  assert.ok(calmAckedDuringFlood >= Math.floor(calmSentDuringFlood / 2), `the calm connection kept getting acks during the flood (${calmAckedDuringFlood}/${calmSentDuringFlood})`);
});

test('upgrades are routed by path: the stream, Socket.IO untouched, 404 elsewhere; keys and limits close 1008/1013', { timeout: 60_000 }, async (t) => {
  const c = await startCluster({
    workers: 1,
    env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_INGEST_KEYS: 'stream-test-key-1', FLEETPULSE_CONFIG: JSON.stringify({ stream: { maxConnectionsPerWorker: 2 } }) },
  });
  t.after(() => c.stop());
  const { default: WebSocket } = await import('ws');
  const open = (path: string): Promise<string> =>
    new Promise((resolve) => {
      const ws = new WebSocket(c.url.replace(/^http/, 'ws') + path);
      ws.on('open', () => {
        ws.terminate();
        resolve('open');
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(`http ${res.statusCode}`);
        ws.terminate();
      });
      ws.on('error', (err) => resolve(`error ${err.message}`));
    });
  assert.equal(await open('/nope'), 'http 404');
  assert.equal(await open('/socket.io/?EIO=4&transport=websocket'), 'open', 'engine.io still takes its own upgrades');

  const anon = await connectStream(c.url);
  assert.equal((await anon.closed).code, 1008);
  const a = await connectStream(c.url, { key: 'stream-test-key-1' });
  const b = await connectStream(c.url, { headers: { 'x-api-key': 'stream-test-key-1' } });
  t.after(() => {
    a.close();
    b.close();
  });
  const third = await connectStream(c.url, { key: 'stream-test-key-1' });
  assert.equal((await third.closed).code, 1013);
  a.send({ seq: 1, source: 'k', metric: 'm', value: 1 });
  await a.waitAck(1);
});

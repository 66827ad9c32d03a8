/**
 * The live server's Redis adapters on a real redis-server: a client on one Socket.IO server gets
 * room broadcasts and server-side beats emitted on another, with the sharded and the classic
 * adapter; and with Redis gone, publishing counts failures instead of raising unhandled rejections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import pino from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { createLiveServer, type LiveServer } from './io.js';
import { createWorkerMetrics } from '../observability/metrics.js';
import { startRedis } from '../testing/redis.js';
import { skipUnless } from '../testing/binaries.js';
import { until } from '../testing/until.js';
import type { ClientToServerEvents, NodeBeat, ServerToClientEvents, SeriesUpdate } from '../protocol/events.js';
import cfgDefaults from '../../cluster.config.js';

const log = pino({ level: 'silent' });

async function liveOn(redisUrl: string, flavour: 'sharded' | 'classic', prefix: string): Promise<{ live: LiveServer; url: string; metrics: ReturnType<typeof createWorkerMetrics>; server: http.Server }> {
  const server = http.createServer();
  const metrics = createWorkerMetrics(new Registry());
  const cfg = { live: cfgDefaults.live, retention: cfgDefaults.retention, auth: cfgDefaults.auth, state: { ...cfgDefaults.state, mode: 'redis' as const, redisUrl, redisKeyPrefix: prefix } };
  const live = await createLiveServer({ cfg, httpServer: server, log, metrics, onScreenLatency: () => {}, redisAdapter: flavour });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { live, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics, server };
}

const update = (room: string): SeriesUpdate => ({
  k: 'series', room, metric: 'cpu', source: 'x', stepMs: 1000, tags: [''], start: [0], count: [1], sum: [1], min: [1], max: [1], last: [1], recv: [0, 0], at: 0,
});

for (const flavour of ['sharded', 'classic'] as const) {
  test(`redis ${flavour} adapter: broadcasts and beats cross servers; Redis down never raises unhandled rejections`, { skip: skipUnless('redis-server'), timeout: 60_000 }, async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const a = await liveOn(redis.url, flavour, `t${flavour}:`);
    const b = await liveOn(redis.url, flavour, `t${flavour}:`);
    let closed = false;
    const closeBoth = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await a.live.close();
      await b.live.close();
    };
    t.after(closeBoth);
    assert.equal(a.live.adapter, flavour === 'sharded' ? 'redis-sharded' : 'redis-classic');

    const client: Socket<ServerToClientEvents, ClientToServerEvents> = connect(`${a.url}/live`, { transports: ['websocket'], reconnection: false });
    t.after(() => client.disconnect());
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('connect_error', reject);
    });
    const got: string[] = [];
    client.on('update', (u) => got.push(u.room));
    const ack = await client.timeout(5000).emitWithAck('subscribe', { metric: 'cpu', source: 'x' });
    assert.deepEqual(ack.ok ? ack.room : ack, 's|cpu|x');
    assert.deepEqual([...a.live.localRooms()], ['s|cpu|x']);

    const beats: NodeBeat[] = [];
    b.live.nsp.on('fp:beat', (x) => beats.push(x));
    await until(`a broadcast on B reaches A's client (${flavour})`, 15_000, () => {
      b.live.nsp.to('s|cpu|x').emit('update', update('s|cpu|x'));
      b.live.nsp.to('s|cpu|other').emit('update', update('s|cpu|other'));
      a.live.nsp.serverSideEmit('fp:beat', { node: 'a', slot: 0, rooms: ['s|cpu|x'], worker: {} as NodeBeat['worker'], b2b: [], s2s: [], b2bSum: 0, s2sSum: 0, redis: 'up' });
      return got.includes('s|cpu|x') && beats.length > 0;
    }, 200);
    assert.ok(!got.includes('s|cpu|other'), 'rooms the client did not join are not delivered');
    assert.equal(beats[0]!.node, 'a');

    // Redis goes away: every publish fails fast, is counted, and nothing rejects unhandled.
    let unhandled = 0;
    const onUnhandled = (): void => void unhandled++;
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));
    await redis.stop();
    await until('the adapter notices Redis is down', 10_000, () => a.live.redisStatus() === 'down' && b.live.redisStatus() === 'down');
    for (let i = 0; i < 50; i++) {
      b.live.nsp.to('s|cpu|x').emit('update', update('s|cpu|x'));
      b.live.nsp.serverSideEmit('fp:beat', beats[0]!);
    }
    await until('publish failures are counted', 10_000, async () => ((await b.metrics.livePublishErrors.get()).values[0]?.value ?? 0) >= 50);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(unhandled, 0, 'no unhandled rejections');

    // Redis hangs (a listener that accepts and never answers): the clients reconnect into it and
    // queue what they send. Closing the servers then fails those commands ("Connection is
    // closed."), which must not surface as unhandled rejections either.
    const hung = net.createServer();
    const conns: net.Socket[] = [];
    let dropped = 0;
    hung.on('connection', (c) => {
      conns.push(c);
      c.on('close', () => void dropped++);
      c.resume(); // read and ignore what they send, so their end is seen
    });
    await new Promise<void>((resolve, reject) => {
      hung.once('error', reject);
      hung.listen(redis.port, '127.0.0.1', resolve);
    });
    t.after(() => {
      for (const c of conns) c.destroy();
      hung.close();
    });
    await until('both servers\' Redis clients reconnect into the hung listener', 15_000, () => conns.length >= 4);
    await closeBoth();
    await until('the closed servers drop their connections', 10_000, () => dropped === conns.length);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(unhandled, 0, 'no unhandled rejections when closing with Redis hung');
  });
}

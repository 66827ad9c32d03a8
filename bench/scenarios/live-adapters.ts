/**
 * bench/live-adapters: the Redis adapter for live fan-out, classic (PUBLISH, every node receives
 * every broadcast) vs sharded (SPUBLISH with a channel per room: a node receives only the rooms
 * its clients hold), on a real redis-server. Three Socket.IO servers in this process (the shape
 * of three workers), each with its own clients in its own rooms (one series room each, as
 * Explore/Source views), and every server emitting one update per room every 250 ms, as the
 * broadcaster does for the series it wrote. Measured: delivered updates/s, delivery latency
 * (emit → client), CPU of this process and of redis-server per delivered update. Baseline in the
 * same run: the classic adapter.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import pino from 'pino';
import { Redis } from 'ioredis';
import { io as connect, type Socket } from 'socket.io-client';
import { createLiveServer, type LiveServer } from '../../node/broadcast/io.js';
import { createWorkerMetrics } from '../../node/observability/metrics.js';
import { startRedis } from '../../node/testing/redis.js';
import type { ClientToServerEvents, SeriesUpdate, ServerToClientEvents } from '../../node/protocol/events.js';
import cfgDefaults from '../../cluster.config.js';
import { median, percentile } from '../lib/stats.js';
import type { Scenario } from '../lib/scenario.js';

const SERVERS = 3;
const FLUSH_MS = 250;
type Flavour = 'classic' | 'sharded';

interface Run {
  flavour: Flavour;
  rooms: number;
  delivered: number;
  deliveredPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerSec: number;
  redisCpuMsPerSec: number;
}

async function redisCpuMs(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_sys') + get('used_cpu_user')) * 1000;
}

async function once(redisUrl: string, flavour: Flavour, roomsPerServer: number, seconds: number, prefix: string): Promise<Run> {
  const log = pino({ level: 'silent' });
  const servers: Array<{ live: LiveServer; http: http.Server; url: string }> = [];
  const clients: Array<Socket<ServerToClientEvents, ClientToServerEvents>> = [];
  const admin = new Redis(redisUrl);
  admin.on('error', () => {});
  try {
    for (let i = 0; i < SERVERS; i++) {
      const srv = http.createServer();
      const cfg = { live: cfgDefaults.live, retention: cfgDefaults.retention, auth: cfgDefaults.auth, state: { ...cfgDefaults.state, mode: 'redis' as const, redisUrl, redisKeyPrefix: prefix } };
      const live = await createLiveServer({ cfg, httpServer: srv, log, metrics: createWorkerMetrics(new Registry()), onScreenLatency: () => {}, redisAdapter: flavour });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      servers.push({ live, http: srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` });
    }
    const latencies: number[] = [];
    let delivered = 0;
    let measuring = false;
    const rooms: string[] = [];
    for (let i = 0; i < SERVERS; i++) {
      for (let j = 0; j < roomsPerServer; j++) {
        const c: Socket<ServerToClientEvents, ClientToServerEvents> = connect(`${servers[i]!.url}/live`, { transports: ['websocket'], forceNew: true });
        clients.push(c);
        await new Promise<void>((resolve, reject) => {
          c.once('connect', resolve);
          c.once('connect_error', reject);
        });
        const source = `h${i}-${j}`;
        const ack = await c.timeout(5000).emitWithAck('subscribe', { metric: 'cpu', source });
        if (!ack.ok) throw new Error(ack.error.message);
        rooms.push(ack.room);
        c.on('update', (u) => {
          if (!measuring) return;
          delivered++;
          if (latencies.length < 200_000) latencies.push(Date.now() - u.at);
        });
      }
    }
    await new Promise((r) => setTimeout(r, 500)); // sharded: SSUBSCRIBEs settle
    const emit = (): void => {
      for (const s of servers) {
        for (const room of rooms) {
          const source = room.slice('s|cpu|'.length);
          const u: SeriesUpdate = { k: 'series', room, metric: 'cpu', source, stepMs: 1000, tags: [''], start: [Date.now() - (Date.now() % 1000)], count: [1], sum: [42.5], min: [42.5], max: [42.5], last: [42.5], recv: [Date.now() - 20, Date.now() - 5], at: Date.now() };
          s.live.nsp.to(room).emit('update', u);
        }
      }
    };
    const timer = setInterval(emit, FLUSH_MS);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const cpu0 = process.cpuUsage();
    const rcpu0 = await redisCpuMs(admin);
    const t0 = Date.now();
    measuring = true;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const wall = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rcpu = (await redisCpuMs(admin)) - rcpu0;
    clearInterval(timer);
    return {
      flavour, rooms: rooms.length, delivered, deliveredPerSec: delivered / wall, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
      cpuMsPerSec: (cpu.user + cpu.system) / 1000 / wall, redisCpuMsPerSec: rcpu / wall,
    };
  } finally {
    for (const c of clients) c.disconnect();
    for (const s of servers) await s.live.close().catch(() => {});
    admin.disconnect();
  }
}

export const liveAdaptersScenario: Scenario = {
  name: 'live-adapters',
  description: 'Socket.IO Redis adapter for live fan-out: classic vs sharded pub/sub, 3 servers, a room per client, 4 flushes/s',
  timeLimitS: (c) => (c.quick ? 120 : 60 + 2 * c.repeat * (c.durationS + 5) * 2),
  async run(ctx) {
    const roomsPerServer = ctx.quick ? 20 : 100;
    const redis = await startRedis();
    try {
      const runs: Run[] = [];
      for (let r = 0; r < ctx.repeat; r++) {
        for (const flavour of ['classic', 'sharded'] as const) {
          ctx.progress(`live-adapters: ${flavour} run ${r + 1}/${ctx.repeat}`);
          runs.push(await once(redis.url, flavour, roomsPerServer, ctx.durationS, `b${r}${flavour}:`));
        }
      }
      const med = (f: Flavour, k: keyof Run): number => median(runs.filter((x) => x.flavour === f).map((x) => x[k] as number));
      const row = (f: Flavour): Array<string | number> => [f, med(f, 'rooms'), med(f, 'deliveredPerSec'), med(f, 'p50Ms'), med(f, 'p99Ms'), med(f, 'cpuMsPerSec'), med(f, 'redisCpuMsPerSec'),
        med(f, 'cpuMsPerSec') / med('classic', 'cpuMsPerSec'), med(f, 'redisCpuMsPerSec') / med('classic', 'redisCpuMsPerSec')];
      return {
        title: 'Live fan-out over Redis: classic vs sharded Socket.IO adapter',
        params: { servers: SERVERS, roomsPerServer, flushMs: FLUSH_MS, durationS: ctx.durationS, repeat: ctx.repeat },
        runs: runs.map((x) => ({ ...x })),
        summary: { classic: row('classic'), sharded: row('sharded') },
        tables: [{
          title: `${SERVERS} servers × ${roomsPerServer} rooms, every server emits to every room each ${FLUSH_MS} ms (median of ${ctx.repeat})`,
          columns: ['adapter', 'rooms', 'delivered/s', 'p50 ms', 'p99 ms', 'node CPU ms/s', 'redis CPU ms/s', 'node CPU vs classic', 'redis CPU vs classic'],
          rows: [row('classic'), row('sharded')],
        }],
        findings: [
          'Classic: every server PSUBSCRIBEs one pattern, so each broadcast reaches every server, which decodes it and drops the rooms it does not hold. Sharded (dynamic): one channel per room, so a server only receives the rooms its clients hold. The adapter choice in node/broadcast/io.ts follows these numbers (sharded on Redis ≥ 7).',
        ],
        charts: [],
      };
    } finally {
      await redis.stop();
    }
  },
};

/**
 * bench/state: memory vs Redis state, at 1 and 2 workers, push and stream ingest. Measured per
 * variant: samples/s, ack latency p50/p99, and for Redis the cost of shared state — commands
 * per 1,000 samples (requests the workers send, and commands run inside our scripts and transactions),
 * bytes sent to Redis per 1,000 samples, and the CPU Redis itself used (cores).
 *
 * Push: autocannon (HTTP/1.1 keep-alive), each request 1,000 samples = 100 sources × 10 metrics
 * with server timestamps, sources rotating over a pool — one sample per series per request, the
 * hardest shape for Redis (every sample is its own bucket update). Stream: the real agent
 * (`fleetpulse agent --transport stream`, exactly-once protocol), one connection per host.
 * Baseline in the same run: memory mode with the same worker count and load, its repeats alternating
 * with Redis mode's (both stacks run side by side), so drift of a shared machine hits both alike.
 * The target of issue 5: Redis ≥ 50% of memory's samples/s at push batch 1000, 2 workers, with
 * redis-server under one core.
 */
import { Redis } from 'ioredis';
import { startCluster, type RunningCluster } from '../../node/testing/cluster.js';
import { startRedis } from '../../node/testing/redis.js';
import { httpLoad } from '../lib/load.js';
import { startAgent } from '../lib/agent.js';
import { ratio, spread } from '../lib/stats.js';
import type { BenchContext, Scenario } from '../lib/scenario.js';
import cfgDefaults from '../../cluster.config.js';

const BATCH = 1000;
const SOURCES_PER_REQUEST = 100;
const METRICS = 10;
const SOURCE_POOL = 5000;
const PUSH_CONNECTIONS = 32;
const STREAM_HOSTS = 200;
const STREAM_BATCH = 100;

type Store = 'memory' | 'redis';
const STORES: readonly Store[] = ['memory', 'redis'];
type Transport = 'push' | 'stream';

interface Variant {
  store: Store;
  workers: number;
  transport: Transport;
}

interface RunRow extends Variant {
  rep: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Stream only: the agent's errors by code (error frames, close codes, connect failures), so a count above 0 says what it was. */
  errorCodes?: Record<string, number>;
  /** Redis only: per 1,000 acknowledged samples. */
  roundTripsPer1k?: number;
  insideCommandsPer1k?: number;
  bytesToRedisPer1k?: number;
  bytesFromRedisPer1k?: number;
  /** CPU redis-server used, in cores (1 = one core busy). */
  redisCores?: number;
}

interface Agg {
  v: Variant;
  samplesPerSec: number;
  min: number;
  max: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  roundTripsPer1k: number;
  insideCommandsPer1k: number;
  bytesToRedisPer1k: number;
  bytesFromRedisPer1k: number;
  redisCores: number;
}

/** Request bodies: 100 sources × 10 metrics, consecutive sources from a rotating pool. */
function pushBodies(): string[] {
  const out: string[] = [];
  const per = SOURCES_PER_REQUEST;
  for (let j = 0; j < SOURCE_POOL / per; j++) {
    const samples: unknown[] = [];
    for (let s = 0; s < per; s++) {
      const source = `st-${String(j * per + s).padStart(5, '0')}`;
      for (let m = 0; m < METRICS; m++) samples.push({ source, metric: `m${m}`, value: Math.round(Math.random() * 10_000) / 100, unit: '%' });
    }
    out.push(JSON.stringify(samples));
  }
  return out;
}

interface RedisCounters {
  /** Requests the clients sent (round trips of work: a script call, a transaction, a command), approximately: see below. */
  commands: number;
  inBytes: number;
  outBytes: number;
  /** Every command Redis executed, including those inside our scripts and transactions. */
  calls: number;
  cpuS: number;
}

/**
 * Commands the ingest path issues only inside a script (state/redis-scripts.ts: fp_put on a Cluster,
 * fp_meta, fp_heads) or a MULTI/EXEC transaction (state/resp-pipe.ts: the tick writes on a standalone
 * Redis). Redis' counters (commandstats) count each of them, and MULTI and EXEC too, so the requests
 * clients sent are all calls minus these and MULTI (a transaction counts once, as its EXEC). HMGET is
 * counted as a client command (a worker reading back what is not in memory) although fp_heads calls
 * it too; GET/SET likewise for stream seqs.
 */
const INSIDE = new Set(['hset', 'hdel', 'hget', 'sadd', 'smembers', 'pexpire', 'multi']);

async function redisCounters(r: Redis): Promise<RedisCounters> {
  const info = await r.info('all');
  const get = (k: string): number => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  let calls = 0;
  let inside = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls += Number(m[2]);
    if (INSIDE.has(m[1]!)) inside += Number(m[2]);
  }
  return { commands: calls - inside, inBytes: get('total_net_input_bytes'), outBytes: get('total_net_output_bytes'), calls, cpuS: get('used_cpu_user') + get('used_cpu_sys') };
}

async function measure(ctx: BenchContext, v: Variant, url: string, rep: number, bodies: string[]): Promise<{ samples: number; samplesPerSec: number; p50Ms: number; p99Ms: number; errors: number; errorCodes?: Record<string, number>; seconds: number }> {
  if (v.transport === 'push') {
    const r = await httpLoad({ url: `${url}/api/v1/ingest`, connections: PUSH_CONNECTIONS, durationS: ctx.durationS, bodies, signal: ctx.signal });
    const ok = r.requests - r.non2xx;
    return { samples: ok * BATCH, samplesPerSec: (ok * BATCH) / r.durationS, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, errors: r.errors + r.non2xx, seconds: r.durationS };
  }
  const warmupS = ctx.quick ? 1 : 3;
  const a = startAgent(url, { transport: 'stream', sources: STREAM_HOSTS, metrics: METRICS, rate: 0, batch: STREAM_BATCH, prefix: `${v.store}${v.workers}r${rep}-` }, ctx.durationS, warmupS, ctx.signal);
  const s = await a.done;
  return { samples: s.ackedSamples, samplesPerSec: s.samplesPerSec, p50Ms: s.ackLatencyMs.p50, p99Ms: s.ackLatencyMs.p99, errors: s.errors + s.dropped, errorCodes: s.errorCodes, seconds: s.durationS };
}

export const stateScenario: Scenario = {
  name: 'state',
  description: 'memory vs Redis state at 1 and 2 workers, push (batch 1000) and stream: samples/s, ack p50/p99, Redis commands, bytes and CPU per 1,000 samples',
  timeLimitS: (c) => 120 + 4 * 6 + 8 * c.repeat * (2 * c.durationS + 20),
  async run(ctx) {
    const bodies = pushBodies();
    const runs: RunRow[] = [];
    const variants: Variant[] = [];
    for (const workers of [1, 2]) {
      // Both stacks run side by side and their repeats alternate (memory first, then Redis first, …):
      // on a shared machine whose speed drifts over minutes, the ratio then compares like with like.
      const redis = await startRedis();
      const admin = new Redis(redis.port, '127.0.0.1');
      admin.on('error', () => {});
      const stacks: Partial<Record<Store, RunningCluster>> = {};
      try {
        for (const store of STORES) {
          stacks[store] = await startCluster({ workers, state: store, ...(store === 'redis' ? { redisUrl: redis.url } : {}), env: { FLEETPULSE_LOG_LEVEL: 'warn' }, readyTimeoutMs: 60_000 });
          // Warm-up: JIT, connections, and every source of the pool written by every worker (the
          // first write of a series also indexes it; that is not the steady state being measured).
          await httpLoad({ url: `${stacks[store]!.url}/api/v1/ingest`, connections: 16, durationS: ctx.quick ? 1 : 5, bodies, signal: ctx.signal });
        }
        for (const transport of ['push', 'stream'] as const) {
          for (const store of STORES) variants.push({ store, workers, transport });
          for (let rep = 0; rep < ctx.repeat; rep++) {
            for (const store of rep % 2 === 0 ? STORES : [...STORES].reverse()) {
              const v: Variant = { store, workers, transport };
              ctx.progress(`state: ${store}, ${workers} worker(s), ${transport}, run ${rep + 1}/${ctx.repeat}`);
              const counted = store === 'redis';
              const before = counted ? await redisCounters(admin) : undefined;
              const m = await measure(ctx, v, stacks[store]!.url, rep, bodies);
              const row: RunRow = { ...v, rep, samplesPerSec: m.samplesPerSec, p50Ms: m.p50Ms, p99Ms: m.p99Ms, errors: m.errors, ...(m.errors > 0 && m.errorCodes !== undefined ? { errorCodes: m.errorCodes } : {}) };
              if (before !== undefined) {
                const after = await redisCounters(admin);
                const k = m.samples > 0 ? 1000 / m.samples : Number.NaN;
                row.roundTripsPer1k = (after.commands - before.commands) * k;
                row.insideCommandsPer1k = (after.calls - before.calls - (after.commands - before.commands)) * k;
                row.bytesToRedisPer1k = (after.inBytes - before.inBytes) * k;
                row.bytesFromRedisPer1k = (after.outBytes - before.outBytes) * k;
                // Over the whole measure() call (stream runs include the agent's warm-up, so this is an upper bound there).
                row.redisCores = (after.cpuS - before.cpuS) / Math.max(m.seconds, 0.001);
              }
              runs.push(row);
            }
          }
        }
      } finally {
        for (const c of Object.values(stacks)) await c.stop();
        admin.disconnect();
        await redis.stop();
      }
    }

    const key = (v: Variant): string => `${v.store}:${v.workers}:${v.transport}`;
    const med = (rs: RunRow[], f: (r: RunRow) => number | undefined): number => spread(rs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x))).median;
    const agg = new Map<string, Agg>();
    for (const v of variants) {
      const rs = runs.filter((r) => key(r) === key(v));
      agg.set(key(v), {
        v,
        samplesPerSec: med(rs, (r) => r.samplesPerSec),
        min: Math.min(...rs.map((r) => r.samplesPerSec)),
        max: Math.max(...rs.map((r) => r.samplesPerSec)),
        p50Ms: med(rs, (r) => r.p50Ms),
        p99Ms: med(rs, (r) => r.p99Ms),
        errors: rs.reduce((n, r) => n + r.errors, 0),
        roundTripsPer1k: med(rs, (r) => r.roundTripsPer1k),
        insideCommandsPer1k: med(rs, (r) => r.insideCommandsPer1k),
        bytesToRedisPer1k: med(rs, (r) => r.bytesToRedisPer1k),
        bytesFromRedisPer1k: med(rs, (r) => r.bytesFromRedisPer1k),
        redisCores: med(rs, (r) => r.redisCores),
      });
    }
    const ratioOf = (workers: number, transport: Transport): number =>
      ratio(agg.get(`redis:${workers}:${transport}`)!.samplesPerSec, agg.get(`memory:${workers}:${transport}`)!.samplesPerSec);
    const rows = [...agg.values()].map((a): Array<string | number> => [
      a.v.store, a.v.workers, a.v.transport, a.samplesPerSec, `${Math.round(a.min)}–${Math.round(a.max)}`, a.p50Ms, a.p99Ms, a.errors,
      a.v.store === 'memory' ? 1 : ratioOf(a.v.workers, a.v.transport),
      a.v.store === 'redis' ? a.roundTripsPer1k : '–', a.v.store === 'redis' ? a.insideCommandsPer1k : '–',
      a.v.store === 'redis' ? a.bytesToRedisPer1k : '–', a.v.store === 'redis' ? a.redisCores : '–',
    ]);
    const target = ratioOf(2, 'push');
    const targetCores = agg.get('redis:2:push')!.redisCores;
    const summary: Record<string, unknown> = Object.fromEntries([...agg].map(([k, a]) => [k, { ...a, v: undefined }]));
    Object.assign(summary, { redisVsMemoryPush2Workers: target, redisCoresPush2Workers: targetCores, targetMet: target >= 0.5 && targetCores < 1 });
    const push2 = agg.get('redis:2:push')!;
    return {
      title: 'State: memory vs Redis (push batch 1000 and stream; 1 and 2 workers)',
      params: { batch: BATCH, sourcesPerRequest: SOURCES_PER_REQUEST, metrics: METRICS, sourcePool: SOURCE_POOL, pushConnections: PUSH_CONNECTIONS, streamHosts: STREAM_HOSTS, streamBatch: STREAM_BATCH, durationS: ctx.durationS, repeat: ctx.repeat, balancer: 'cluster', commitIntervalMs: cfgDefaults.state.commitIntervalMs },
      runs: runs as unknown as Array<Record<string, unknown>>,
      summary,
      tables: [{
        title: 'Throughput, ack latency and Redis cost (median of repeats)',
        columns: ['store', 'workers', 'transport', 'samples/s', 'range', 'ack p50 ms', 'ack p99 ms', 'errors', 'vs memory', 'client requests /1k samples', 'commands inside scripts and transactions /1k samples', 'bytes to Redis /1k samples', 'redis-server cores'],
        rows,
      }],
      findings: [
        `Target (push, batch 1000, 2 workers): Redis at ${(target * 100).toFixed(0)}% of memory mode's samples/s (goal ≥ 50%), redis-server using ${targetCores.toFixed(2)} cores (goal < 1): ${target >= 0.5 && targetCores < 1 ? 'met' : 'NOT met'} on this run.`,
        `Group commit: per 1,000 samples the workers sent ${push2.roundTripsPer1k.toFixed(1)} requests to Redis (one MULTI/EXEC per part of a tick, each writing whole requests' sources, plus fp_meta and the index updates that are due), which ran ${push2.insideCommandsPer1k.toFixed(0)} commands inside Redis (per source of the tick one HSET of its data hash: ring heads and head buckets, liveness, and the chunks a head moved out of); ${Math.round(push2.bytesToRedisPer1k).toLocaleString('en-US')} bytes went to Redis per 1,000 samples (binary bucket state, not JSON).`,
        'Push requests carry one sample per series (100 sources × 10 metrics), so every sample is its own bucket update in Redis: the worst case. Stream messages carry several ticks of one host, which pre-aggregation folds into far fewer bucket updates.',
      ],
      charts: [],
    };
  },
};

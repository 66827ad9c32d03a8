/**
 * FleetPulse's one typed configuration: the defaults. Override them with env (`FLEETPULSE_*`),
 * CLI flags (`fleetpulse start --help`), or a JSON object in FLEETPULSE_CONFIG (deep-merged).
 * Every field is documented in node/config/schema.ts.
 */
import type { ClusterConfig } from './node/config/schema.js';

export default {
  host: '127.0.0.1',
  port: 8080,
  tlsPort: 8443,
  adminPort: 9464,
  workers: 0,
  maxWorkers: 8,
  balancer: 'auto',
  workerPort: 9100,
  upstreamProtocol: 'h1',
  caddy: { adminPort: 0, dataDir: '.fleetpulse/caddy', healthIntervalMs: 1000 },
  ingest: {
    maxBodyBytes: 1024 * 1024,
    maxSamplesPerRequest: 10_000,
    maxTags: 16,
    maxFutureMs: 5 * 60_000,
    applyTimeoutMs: 5000,
    maxPendingSamples: 200_000,
    turnBudgetMs: 0,
  },
  retention: {
    fineStepMs: 1000,
    fineSpanMs: 10 * 60_000,
    coarseStepMs: 60_000,
    coarseSpanMs: 6 * 3600_000,
  },
  state: {
    mode: 'memory',
    redisUrl: 'redis://127.0.0.1:6379',
    redisKeyPrefix: 'fp:',
    commitIntervalMs: 5,
    maxSeries: 1_000_000,
    streamSeqTtlMs: 15 * 60_000,
  },
  stream: {
    maxPayloadBytes: 1024 * 1024,
    ackIntervalMs: 50,
    ackEverySamples: 1000,
    maxUnackedSamples: 20_000,
    maxConnectionsPerWorker: 20_000,
    heartbeatMs: 30_000,
  },
  live: { flushMs: 250 },
  auth: { ingestKeys: [], readKeys: [], keyFile: '', rateLimit: 0, allowedOrigins: [] },
  http: { maxConnectionsPerWorker: 30_000, firstByteTimeoutMs: 10_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 },
  demo: { sources: 0, metrics: 10 },
  logLevel: 'info',
} satisfies ClusterConfig;

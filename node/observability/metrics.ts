/**
 * Every FleetPulse metric, on an explicit Registry (never the global one). Each gauge states how
 * the primary merges it across workers (prom-client sums by default, which is wrong for most
 * gauges). Label values come from fixed sets only: no client-supplied names in labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ingestStageNames, ingestStages, type IngestStage } from './stage-clock.js';
import { LIVE_LATENCY_BOUNDS } from '../broadcast/rolling-histogram.js';

export const Transport = { Http: 'http', Ws: 'ws' } as const;
export type Transport = (typeof Transport)[keyof typeof Transport];
export const IngestResult = { Accepted: 'accepted', Rejected: 'rejected', Shed: 'shed', Failed: 'failed' } as const;
export type IngestResult = (typeof IngestResult)[keyof typeof IngestResult];

/** `store` label values (the state mode). */
export const StoreLabel = { Memory: 'memory', Redis: 'redis' } as const;
export type StoreLabel = (typeof StoreLabel)[keyof typeof StoreLabel];

/**
 * `op` label of the Redis metrics: logical operations of node/state/redis.ts (its RedisStoreOp),
 * never raw command names or keys (a key holds client-chosen names). commit = one group-commit round
 * trip (admission, fp_write, index updates); query = reads for the query API and the live
 * broadcaster; seq = stream seq read/record (exactly-once).
 */
export const RedisOp = { Commit: 'commit', Query: 'query', Seq: 'seq' } as const;
export type RedisOp = (typeof RedisOp)[keyof typeof RedisOp];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LIVE_LATENCY_BUCKETS = [...LIVE_LATENCY_BOUNDS];
const SIZE_BUCKETS = [128, 512, 2048, 8192, 32768, 131072, 524288, 1048576, 4194304];
const COUNT_BUCKETS = [1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000];

/**
 * prom-client's default process/runtime metrics under our prefix, cleaned up: three of them are
 * gauges named `_total` (`nodejs_active_{handles,requests,resources}_total`), which `promtool check
 * metrics` rejects and PromQL users misread as counters — `sum(fleetpulse_nodejs_active_handles)`
 * gives the same number. process_start_time_seconds is `omit`ted by prom-client's cluster merge;
 * every process has its own `worker` label here, so keep it (restarts show as a new start time).
 */
function collectRuntimeMetrics(registry: Registry, labels: Record<string, string> = {}): void {
  collectDefaultMetrics({ register: registry, prefix: 'fleetpulse_', labels });
  for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`fleetpulse_nodejs_active_${kind}_total`);
  const start = registry.getSingleMetric('fleetpulse_process_start_time_seconds') as { aggregator?: string } | undefined;
  if (start !== undefined) start.aggregator = 'max';
}

/**
 * Values read when /metrics is scraped rather than pushed on every change (the worker binds them
 * once its store and sink exist): cheaper than updating a gauge on every request.
 */
export interface WorkerReadings {
  store: StoreLabel;
  /** Can the state store take writes now (Redis connected; memory: cluster membership known)? */
  stateReady(): boolean;
  /** Age of the oldest batch accepted by this worker and not yet acknowledged by the store, ms (0 = none). */
  oldestPendingMs(): number;
}

export function createWorkerMetrics(registry: Registry) {
  collectRuntimeMetrics(registry);
  let readings: WorkerReadings | undefined;
  const m = {
    /** Bind the scrape-time readings (worker/worker.ts, once the store exists). */
    bindReadings(r: WorkerReadings): void {
      readings = r;
    },
    ingestSamples: new Counter({
      name: 'fleetpulse_ingest_samples_total', help: 'Samples received, by transport and result (accepted, rejected by validation, shed under load, failed to store).',
      labelNames: ['transport', 'result'] as const, registers: [registry],
    }),
    ingestRequests: new Counter({
      name: 'fleetpulse_ingest_requests_total', help: 'Ingest requests (HTTP) or messages (stream), by transport and HTTP-like status class.',
      labelNames: ['transport', 'code'] as const, registers: [registry],
    }),
    ingestDuration: new Histogram({
      name: 'fleetpulse_ingest_duration_seconds', help: 'Time from request received to acknowledgement (samples in the state store).',
      labelNames: ['transport'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    ingestBodyBytes: new Histogram({
      name: 'fleetpulse_ingest_body_bytes', help: 'Ingest request body size as received (before gzip inflation).',
      labelNames: ['transport'] as const, buckets: SIZE_BUCKETS, registers: [registry],
    }),
    forwardedSamples: new Counter({
      name: 'fleetpulse_forwarded_samples_total', help: 'Samples that reached a worker that does not own their source and were forwarded to the owner (memory mode: its partition; Redis mode: its one writer).',
      registers: [registry],
    }),
    forwardBatches: new Counter({
      name: 'fleetpulse_forward_batches_total', help: 'Forward messages sent to owner workers over the peer links (each carries one or more requests\' samples).',
      registers: [registry],
    }),
    ingestStageSeconds: new Counter({
      name: 'fleetpulse_ingest_stage_seconds_total', help: 'Time of the synchronous ingest stages, by the wall clock (CPU time unless the OS preempted the worker inside one; observability/stage-clock.ts): decode = body or message to a batch; apply = samples into this worker\'s partition (memory mode); forward_encode = splitting batches by owner and encoding forwarded frames; forward_decode = decoding frames forwarded to this worker. Read at scrape time.',
      labelNames: ['stage'] as const, registers: [registry],
      collect() {
        this.reset();
        ingestStageNames.forEach((stage, i) => this.inc({ stage }, ingestStages.seconds(i as IngestStage)));
      },
    }),
    pendingSamples: new Gauge({
      name: 'fleetpulse_ingest_pending_samples', help: 'Samples accepted by this worker and not yet acknowledged by the state store.',
      aggregator: 'sum', registers: [registry],
    }),
    series: new Gauge({
      name: 'fleetpulse_state_series', help: 'Live series held in this worker\'s partition (memory mode).',
      aggregator: 'sum', registers: [registry],
    }),
    seriesBytes: new Gauge({
      name: 'fleetpulse_state_series_bytes', help: 'Bytes held by bucket storage of this worker\'s partition.',
      aggregator: 'sum', registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'fleetpulse_http_requests_total', help: 'HTTP requests by route group and status class.',
      labelNames: ['route', 'code'] as const, registers: [registry],
    }),
    httpSessions: new Gauge({
      name: 'fleetpulse_http_open_connections', help: 'Open client connections by protocol (h1, h2c).',
      labelNames: ['protocol'] as const, aggregator: 'sum', registers: [registry],
    }),
    httpConnections: new Counter({
      name: 'fleetpulse_http_connections_total', help: 'Client connections accepted by protocol (h1, h2c); through Caddy, how often it dialed a worker (a fast rise under steady load means connections are not kept alive).',
      labelNames: ['protocol'] as const, registers: [registry],
    }),
    // ---- limits and access (docs/limits.md, SECURITY.md) ----
    httpRefusedConnections: new Counter({
      name: 'fleetpulse_http_refused_connections_total', help: 'Connections the public server closed for a limit: limit = past http.maxConnectionsPerWorker (answered 503), idle = no first byte within http.firstByteTimeoutMs, timeout = headers or request not complete within http.headersTimeoutMs / http.requestTimeoutMs (answered 408).',
      labelNames: ['reason'] as const, registers: [registry],
    }),
    authFailures: new Counter({
      name: 'fleetpulse_auth_failures_total', help: 'Requests, stream upgrades and Socket.IO handshakes refused by the access check, by role needed (ingest, read) and reason (missing key, unknown key, wrong_role = a valid key of the other kind, origin = cross-origin browser request).',
      labelNames: ['role', 'reason'] as const, registers: [registry],
    }),
    rateLimitedSamples: new Counter({
      name: 'fleetpulse_ingest_rate_limited_samples_total', help: 'Samples over their key\'s auth.rateLimit: http = refused with 429 rate_limited (the client retries after Retry-After); ws = their connection was paused until the key\'s bucket refilled (delayed, not lost).',
      labelNames: ['transport'] as const, registers: [registry],
    }),
    seriesLimitRejections: new Counter({
      name: 'fleetpulse_ingest_series_limit_rejections_total', help: 'Requests (stream: messages) refused with 429 series_limit because they would create series past state.maxSeries; the sources they carried are listed in /admin/cluster and the dashboard\'s Cluster view.',
      labelNames: ['transport'] as const, registers: [registry],
    }),
    // ---- stream ingest (WebSocket, node/ingest/ws.ts) ----
    streamConnections: new Gauge({
      name: 'fleetpulse_stream_connections', help: 'Open stream (WebSocket ingest) connections on this worker; past stream.maxConnectionsPerWorker new ones are closed 1013.',
      aggregator: 'sum', registers: [registry],
    }),
    streamMessages: new Counter({
      name: 'fleetpulse_stream_messages_total', help: 'Stream messages by result: accepted (applied), duplicate (seq at or below the stream\'s applied seq: acked, not applied), rejected (answered with an error frame), dropped (received, then the connection failed before applying them).',
      labelNames: ['result'] as const, registers: [registry],
    }),
    streamAcks: new Counter({
      name: 'fleetpulse_stream_acks_total', help: 'Cumulative ack frames sent ({"ack":n}); at most one per stream.ackIntervalMs per connection unless stream.ackEverySamples piled up.',
      registers: [registry],
    }),
    streamAckLatency: new Histogram({
      name: 'fleetpulse_stream_ack_latency_seconds', help: 'Time from a stream message being received to the ack frame covering it being written (apply + ack batching).',
      buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    streamUnackedSamples: new Gauge({
      name: 'fleetpulse_stream_unacked_samples', help: 'Samples received on stream connections and not yet acked; each connection stops reading past stream.maxUnackedSamples.',
      aggregator: 'sum', registers: [registry],
    }),
    ingestDeferred: new Counter({
      name: 'fleetpulse_ingest_deferred_total', help: 'Stream messages and push bodies that waited for a later event-loop turn: the turn had spent its ingest budget (ingest/turn-budget.ts), so the loop went back to accepting and timers first.',
      labelNames: ['transport'] as const, registers: [registry],
    }),
    streamPauses: new Counter({
      name: 'fleetpulse_stream_pauses_total', help: 'Times a stream connection was paused (socket reads stopped) because it held more than stream.maxUnackedSamples unacked samples.',
      registers: [registry],
    }),
    streamCloses: new Counter({
      name: 'fleetpulse_stream_closes_total', help: 'Stream connections closed, by WebSocket close code (1000, 1001, 1005, 1006, 1008 auth, 1009 too big, 1011 internal, 1013 overloaded, other).',
      labelNames: ['code'] as const, registers: [registry],
    }),
    streamHandoffs: new Counter({
      name: 'fleetpulse_stream_handoffs_total', help: 'Stream connections this worker handed to the owner of their X-Source (memory mode), by result: sent, or failed (the socket was closed; the client reconnects).',
      labelNames: ['result'] as const, registers: [registry],
    }),
    streamSeqErrors: new Counter({
      name: 'fleetpulse_stream_seq_errors_total', help: 'Exactly-once bookkeeping problems: a stream seq could not be recorded, or a resume passed an unfinished claim (those messages may be applied twice).',
      registers: [registry],
    }),
    // ---- live (Socket.IO) ----
    liveClients: new Gauge({
      name: 'fleetpulse_live_clients', help: 'Dashboard clients connected to the /live namespace of this worker.',
      aggregator: 'sum', registers: [registry],
    }),
    liveRooms: new Gauge({
      name: 'fleetpulse_live_rooms', help: 'Live rooms (metric or metric+source subscriptions) held by clients of this worker.',
      aggregator: 'sum', registers: [registry],
    }),
    liveUpdates: new Counter({
      name: 'fleetpulse_live_updates_total', help: 'Live `update` messages emitted (one per watched room per flush), by kind (fleet = per metric, series = per metric+source).',
      labelNames: ['kind'] as const, registers: [registry],
    }),
    liveFlushErrors: new Counter({
      name: 'fleetpulse_live_flush_errors_total', help: 'Live flushes or summaries that failed (state store unavailable); the next flush retries.',
      registers: [registry],
    }),
    liveSkippedClients: new Counter({
      name: 'fleetpulse_live_slow_clients_total', help: 'Times a dashboard client was marked slow (send backlog over 1 MiB) and started skipping live frames until it drained.',
      registers: [registry],
    }),
    livePublishErrors: new Counter({
      name: 'fleetpulse_live_publish_errors_total', help: 'Adapter publishes to Redis that failed (Redis down); the update is dropped, never queued.',
      registers: [registry],
    }),
    broadcastLatency: new Histogram({
      name: 'fleetpulse_live_broadcast_latency_seconds', help: 'Time from a sample being received to the live update carrying its bucket being emitted.',
      buckets: LIVE_LATENCY_BUCKETS, registers: [registry],
    }),
    sampleToScreen: new Histogram({
      name: 'fleetpulse_sample_to_screen_seconds', help: 'Time from a sample being received to a browser painting it, as reported by dashboards (clock offset corrected).',
      buckets: LIVE_LATENCY_BUCKETS, registers: [registry],
    }),
    // ---- request sizes, state-store lag and readiness (observability) ----
    ingestRequestSamples: new Histogram({
      name: 'fleetpulse_ingest_request_samples', help: 'Samples per ingest request (HTTP) or stream message (ws) that passed validation.',
      labelNames: ['transport'] as const, buckets: COUNT_BUCKETS, registers: [registry],
    }),
    stateApplyDuration: new Histogram({
      name: 'fleetpulse_state_apply_duration_seconds', help: 'Time from a batch entering the state store to the store confirming it (memory: own partition + forwarding to owners; redis: group-commit tick + round trip). Failed applies included.',
      labelNames: ['store'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    stateOldestPending: new Gauge({
      name: 'fleetpulse_state_oldest_pending_seconds', help: 'State-store lag: age of the oldest batch this worker accepted and the store has not acknowledged yet (0 when nothing is pending). Read at scrape time.',
      aggregator: 'max', registers: [registry],
      collect() {
        if (readings !== undefined) this.set(readings.oldestPendingMs() / 1000);
      },
    }),
    stateReady: new Gauge({
      name: 'fleetpulse_state_ready', help: '1 when this worker\'s state store can take writes (redis: connected; memory: cluster membership known), else 0. Read at scrape time.',
      labelNames: ['store'] as const, aggregator: 'min', registers: [registry],
      collect() {
        if (readings !== undefined) this.set({ store: readings.store }, readings.stateReady() ? 1 : 0);
      },
    }),
    /**
     * Redis (state: redis). node/state/redis.ts reports each logical operation through its
     * RedisStoreHooks.onOp, which the worker wires to `observeRedisOp(metrics, op, seconds, ok)`
     * (op from {@link RedisOp}, never a key or a raw command).
     */
    redisDuration: new Histogram({
      name: 'fleetpulse_redis_command_duration_seconds', help: 'Duration of Redis operations of the state store by op (commit = one group-commit round trip, query, seq), failures included.',
      labelNames: ['op'] as const, buckets: LATENCY_BUCKETS, registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'fleetpulse_redis_command_errors_total', help: 'Redis operations of the state store that failed (error, timeout, or Redis unreachable), by op.',
      labelNames: ['op'] as const, registers: [registry],
    }),
  };
  // Export the fixed label combinations at 0 from the start: rate() and sum() then see a series
  // before its first increment, and alerts on ratios do not wait for the first failure.
  for (const transport of Object.values(Transport)) {
    m.rateLimitedSamples.inc({ transport }, 0);
    m.seriesLimitRejections.inc({ transport }, 0);
    for (const result of Object.values(IngestResult)) m.ingestSamples.inc({ transport, result }, 0);
    for (const code of ['2xx', '4xx', '5xx']) m.ingestRequests.inc({ transport, code }, 0);
  }
  return m;
}

/** Record one logical Redis operation of the state store (see {@link RedisOp}). */
export function observeRedisOp(m: Pick<WorkerMetrics, 'redisDuration' | 'redisErrors'>, op: RedisOp, seconds: number, ok: boolean): void {
  m.redisDuration.observe({ op }, seconds);
  if (!ok) m.redisErrors.inc({ op });
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Why a worker was left out of a /metrics scrape. */
export const ScrapeMissReason = { Timeout: 'timeout', Error: 'error' } as const;
export type ScrapeMissReason = (typeof ScrapeMissReason)[keyof typeof ScrapeMissReason];

export function createPrimaryMetrics(registry: Registry) {
  // Same names as the workers' runtime metrics, told apart by worker="primary".
  collectRuntimeMetrics(registry, { worker: 'primary' });
  const m = {
    workerRestarts: new Counter({ name: 'fleetpulse_worker_restarts_total', help: 'Workers restarted by the primary after an unexpected exit.', registers: [registry] }),
    partitionsLost: new Counter({
      name: 'fleetpulse_state_partitions_lost_total', help: 'Memory state: worker partitions lost because their worker exited unexpectedly (crash, kill -9, OOM). Every series that worker owned lost its history up to the crash (fleetpulse_state_series{worker} just before it says how many), and named streams whose seq record it held resume from their clients\' unacked messages. Redis state never loses a partition.',
      registers: [registry],
    }),
    workersLive: new Gauge({ name: 'fleetpulse_workers_live', help: 'Workers that are up and registered (members of the cluster).', aggregator: 'max', registers: [registry] }),
    workersDesired: new Gauge({ name: 'fleetpulse_workers_desired', help: 'Workers the primary wants running (--workers, or the last scale); fleetpulse_workers_live below it for long means workers keep failing.', aggregator: 'max', registers: [registry] }),
    scrapeMissing: new Counter({
      name: 'fleetpulse_scrape_missing_workers_total', help: 'Workers left out of a /metrics scrape: timeout = no answer within the per-worker budget (below the scraper\'s timeout), error = the worker answered with an error or an unusable registry.',
      labelNames: ['reason'] as const, registers: [registry],
    }),
    scrapeDuration: new Histogram({
      name: 'fleetpulse_scrape_duration_seconds', help: 'Time the primary took to gather and merge every worker\'s registry for one /metrics scrape.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
    }),
    upstreamUp: new Gauge({
      name: 'fleetpulse_balancer_upstream_up', help: 'Balancer upstream health as the primary sees it, per declared worker slot: caddy = the primary\'s own probe of the slot\'s /healthz (the check Caddy runs); cluster = the slot\'s worker is a live cluster member. 1 up, 0 down.',
      labelNames: ['slot'] as const, aggregator: 'max', registers: [registry],
    }),
    upstreamFails: new Gauge({
      name: 'fleetpulse_balancer_upstream_fails', help: 'Caddy\'s count of recent failed proxy attempts per worker slot (passive health, within fail_duration), from its admin API GET /reverse_proxy/upstreams; only when caddy.adminPort is set.',
      labelNames: ['slot'] as const, aggregator: 'max', registers: [registry],
    }),
    upstreamRequests: new Gauge({
      name: 'fleetpulse_balancer_upstream_requests', help: 'Requests Caddy is proxying to each worker slot right now, from its admin API; only when caddy.adminPort is set.',
      labelNames: ['slot'] as const, aggregator: 'max', registers: [registry],
    }),
  };
  for (const reason of Object.values(ScrapeMissReason)) m.scrapeMissing.inc({ reason }, 0);
  return m;
}

export type PrimaryMetrics = ReturnType<typeof createPrimaryMetrics>;

/**
 * Every FleetPulse metric, on an explicit Registry (never the global one). Each gauge states how
 * the primary merges it across workers (prom-client sums by default, which is wrong for most
 * gauges). Label values come from fixed sets only: no client-supplied names in labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const Transport = { Http: 'http', Ws: 'ws' } as const;
export type Transport = (typeof Transport)[keyof typeof Transport];
export const IngestResult = { Accepted: 'accepted', Rejected: 'rejected', Shed: 'shed', Failed: 'failed' } as const;
export type IngestResult = (typeof IngestResult)[keyof typeof IngestResult];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LIVE_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SIZE_BUCKETS = [128, 512, 2048, 8192, 32768, 131072, 524288, 1048576, 4194304];

export function createWorkerMetrics(registry: Registry) {
  collectDefaultMetrics({ register: registry, prefix: 'fleetpulse_' });
  return {
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
      name: 'fleetpulse_forwarded_samples_total', help: 'Samples that reached a worker that does not own their source and were forwarded to the owner (memory mode).',
      registers: [registry],
    }),
    forwardBatches: new Counter({
      name: 'fleetpulse_forward_batches_total', help: 'IPC forward messages sent to owner workers (each carries one or more requests\' samples).',
      registers: [registry],
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
    streamPauses: new Counter({
      name: 'fleetpulse_stream_pauses_total', help: 'Times a stream connection was paused (socket reads stopped) because it held more than stream.maxUnackedSamples unacked samples.',
      registers: [registry],
    }),
    streamCloses: new Counter({
      name: 'fleetpulse_stream_closes_total', help: 'Stream connections closed, by WebSocket close code (1000, 1001, 1005, 1006, 1008 auth, 1009 too big, 1011 internal, 1013 overloaded, other).',
      labelNames: ['code'] as const, registers: [registry],
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
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

export function createPrimaryMetrics(registry: Registry) {
  collectDefaultMetrics({ register: registry, prefix: 'fleetpulse_primary_' });
  return {
    workerRestarts: new Counter({ name: 'fleetpulse_worker_restarts_total', help: 'Workers restarted by the primary after an unexpected exit.', registers: [registry] }),
    workersLive: new Gauge({ name: 'fleetpulse_workers_live', help: 'Workers that are up and registered.', registers: [registry] }),
    scrapeMissing: new Counter({ name: 'fleetpulse_scrape_missing_workers_total', help: 'Workers left out of a /metrics scrape because they did not answer in time.', registers: [registry] }),
  };
}

export type PrimaryMetrics = ReturnType<typeof createPrimaryMetrics>;

/**
 * The one configuration schema: TypeBox gives both the runtime validator and the static type.
 * Every object rejects unknown keys, so a typo in an env/CLI override is an error, not a no-op.
 */
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const PositiveInt = Type.Integer({ minimum: 1 });
const strict = { additionalProperties: false } as const;

export const Balancer = { Auto: 'auto', Caddy: 'caddy', Cluster: 'cluster' } as const;
export const StateMode = { Memory: 'memory', Redis: 'redis' } as const;
export const UpstreamProtocol = { H1: 'h1', H2c: 'h2c' } as const;
export const LogLevel = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const IngestSchema = Type.Object(
  {
    /** Largest request body (after gzip inflation too) in bytes. Past it: 413 `body_too_large`. @default 1048576 */
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 }),
    /** Most samples in one request or stream message. Past it: 413 `too_many_samples`. @default 10000 */
    maxSamplesPerRequest: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Most tags per sample. @default 16 */
    maxTags: Type.Integer({ minimum: 0, maximum: 64 }),
    /** How far into the future a `ts` may lie, in ms. @default 300000 */
    maxFutureMs: Type.Integer({ minimum: 0 }),
    /** How long the worker waits for an owner worker or Redis to apply a batch before 503. @default 5000 */
    applyTimeoutMs: PositiveInt,
    /** Most samples accepted but not yet applied per worker; past it ingest answers 503 `overloaded` (counter fleetpulse_ingest_samples_total{result="shed"}). @default 200000 */
    maxPendingSamples: PositiveInt,
    /**
     * Ingest work (push bodies, stream messages) one event-loop turn may do before the rest waits
     * for the check phase, in ms; 0 = unbounded. Bounding it keeps a CPU-saturated worker accepting
     * connections (libuv accepts one per turn) at a cost in throughput and ack latency under load
     * (ARCHITECTURE.md, "Stream ingest"). @default 0
     */
    turnBudgetMs: Type.Integer({ minimum: 0, maximum: 1000 }),
  },
  strict,
);

export const RetentionSchema = Type.Object(
  {
    /** Fine bucket width in ms. @default 1000 */
    fineStepMs: PositiveInt,
    /** How long fine buckets are kept, in ms (a multiple of fineStepMs). @default 600000 (10 min) */
    fineSpanMs: PositiveInt,
    /** Coarse bucket width in ms (a multiple of fineStepMs). @default 60000 */
    coarseStepMs: PositiveInt,
    /** How long coarse buckets are kept, in ms; also the oldest `ts` accepted. @default 21600000 (6 h) */
    coarseSpanMs: PositiveInt,
  },
  strict,
);

export const StateSchema = Type.Object(
  {
    /** `memory`: sticky partitions in the workers; `redis`: shared aggregates in Redis. @default memory */
    mode: Type.Union([Type.Literal(StateMode.Memory), Type.Literal(StateMode.Redis)]),
    /** Redis URL for `redis` mode (redis://, rediss://). @default redis://127.0.0.1:6379 */
    redisUrl: Type.String({ minLength: 1 }),
    /** Key prefix in Redis, so several deployments (or tests) can share one server. @default fp: */
    redisKeyPrefix: Type.String({ maxLength: 64 }),
    /** Group-commit tick: how long a worker gathers samples before one write to the store. @default 5 */
    commitIntervalMs: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** Most series per worker partition (memory) or in Redis; past it: 429 `series_limit`. @default 1000000 */
    maxSeries: PositiveInt,
    /** How long the highest applied `seq` of a named stream is remembered, in ms. @default 900000 */
    streamSeqTtlMs: Type.Integer({ minimum: 600_000 }),
  },
  strict,
);

export const StreamSchema = Type.Object(
  {
    /** Largest WebSocket message in bytes; bigger → close 1009. @default 1048576 */
    maxPayloadBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 }),
    /** Acks are batched: at most this long after the samples were applied. @default 50 */
    ackIntervalMs: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** …or as soon as this many samples are applied since the last ack. @default 1000 */
    ackEverySamples: PositiveInt,
    /** Unacked samples per connection before the server stops reading from it. @default 20000 */
    maxUnackedSamples: PositiveInt,
    /** Most stream connections per worker; beyond → close 1013. @default 20000 */
    maxConnectionsPerWorker: PositiveInt,
    /** Ping interval; a peer that misses one pong is dropped. @default 30000 */
    heartbeatMs: Type.Integer({ minimum: 100 }),
  },
  strict,
);

export const LiveSchema = Type.Object(
  {
    /** How often coalesced `update`s are emitted to dashboards, in ms. @default 250 */
    flushMs: Type.Integer({ minimum: 50, maximum: 1000 }),
  },
  strict,
);

/** Keys are sent in headers and URLs: printable ASCII without spaces or separators that would need escaping. */
const ApiKey = Type.String({ minLength: 8, maxLength: 256, pattern: '^[A-Za-z0-9._~+/=-]+$' });

export const AuthSchema = Type.Object(
  {
    /**
     * Keys allowed to ingest (FLEETPULSE_INGEST_KEYS, comma-separated, and `ingest <key>` lines of
     * keyFile). Empty = ingest needs no key (loopback hosts only). A wrong key: 401 `unauthorized`;
     * a read key: 403 `forbidden`. Counter fleetpulse_auth_failures_total{role="ingest"}.
     */
    ingestKeys: Type.Array(ApiKey),
    /**
     * Keys allowed to read: the query API, the dashboard's data and Socket.IO /live
     * (FLEETPULSE_READ_KEYS, and `read <key>` lines of keyFile). Empty = reads need no key.
     */
    readKeys: Type.Array(ApiKey),
    /**
     * A file of keys, one per line: `ingest <key>` or `read <key>`; blank lines and `#` comments
     * are ignored. Its keys are added to ingestKeys/readKeys at start. Must not be readable by
     * other users (mode 600 or 640). '' = none (FLEETPULSE_KEY_FILE). @default ''
     */
    keyFile: Type.String(),
    /**
     * Samples/s per ingest key (token bucket, bursts up to one second's worth), enforced by each
     * worker on what it receives (docs/limits.md says why); without ingest keys, every client
     * shares one bucket. Past it: HTTP 429 `rate_limited` + Retry-After, stream: a `rate_limited`
     * notice frame and reading paused. Counter fleetpulse_ingest_rate_limited_samples_total.
     * 0 = unlimited (FLEETPULSE_RATE_LIMIT). @default 0
     */
    rateLimit: Type.Integer({ minimum: 0 }),
    /**
     * Browser origins (scheme://host[:port]) allowed besides the server's own, for the API,
     * the stream and Socket.IO. A request whose `Origin` is neither same-origin nor listed is
     * refused (403 `forbidden`); requests without Origin (agents, curl) are not affected.
     * (FLEETPULSE_ALLOWED_ORIGINS, comma-separated.) @default []
     */
    allowedOrigins: Type.Array(Type.String({ minLength: 1, maxLength: 256 })),
  },
  strict,
);

export const HttpSchema = Type.Object(
  {
    /**
     * Most TCP connections one worker holds (HTTP/1.1, h2c and WebSocket together, streams
     * included). A connection past it is answered 503 and closed. Gauge
     * fleetpulse_http_open_connections; counter fleetpulse_http_refused_connections_total{reason="limit"}. @default 30000
     */
    maxConnectionsPerWorker: PositiveInt,
    /**
     * A new connection must send its first bytes within this many ms, or it is closed
     * (fleetpulse_http_refused_connections_total{reason="idle"}). @default 10000
     */
    firstByteTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** All request headers must arrive within this many ms of the request's first byte, else 408. @default 10000 */
    headersTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
    /** A whole request (headers and body) must arrive within this many ms, else 408 (h2c: the stream is reset). @default 30000 */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
  },
  strict,
);

export const DemoSchema = Type.Object(
  {
    /** Simulated sources for `start --demo`; 0 = no demo fleet. @default 0 */
    sources: Type.Integer({ minimum: 0, maximum: 100_000 }),
    /** Metrics per simulated source. @default 10 */
    metrics: Type.Integer({ minimum: 1, maximum: 100 }),
  },
  strict,
);

export const CaddySchema = Type.Object(
  {
    /**
     * Caddy's admin API on 127.0.0.1:<adminPort>; 0 = `admin off` (the default). FleetPulse never
     * changes Caddy's config at run time (any reload drops every proxied WebSocket, NOTES.md §1.7),
     * so the admin API is only for inspection (`GET /reverse_proxy/upstreams`). @default 0
     */
    adminPort: Port,
    /**
     * Caddy's state directory (internal CA, TLS certificates, autosave): the child runs with
     * XDG_DATA_HOME=<dataDir>/data and XDG_CONFIG_HOME=<dataDir>/config, never /var/lib or $HOME.
     * The TLS root certificate is <dataDir>/data/caddy/pki/authorities/local/root.crt.
     * Relative to the working directory (FLEETPULSE_CADDY_DATA_DIR). @default .fleetpulse/caddy
     */
    dataDir: Type.String({ minLength: 1 }),
    /** Active health-check interval per worker slot (GET /healthz), ms; empty slots are probed too. @default 1000 */
    healthIntervalMs: Type.Integer({ minimum: 100, maximum: 60_000 }),
  },
  strict,
);

export const ClusterConfigSchema = Type.Object(
  {
    /** Public bind host. Non-loopback needs auth keys. @default 127.0.0.1 */
    host: Type.String({ minLength: 1 }),
    /** Public port: HTTP/1.1 + h2c (Caddy's, or the shared cluster port). 0 = any free port. @default 8080 */
    port: Port,
    /** TLS port (h1 + h2 with Caddy's internal CA; `caddy` balancer only). @default 8443 */
    tlsPort: Port,
    /** Loopback admin port: /metrics, /admin/cluster, /admin/scale. @default 9464 */
    adminPort: Port,
    /** Worker processes; 0 = one per CPU core. @default 0 */
    workers: Type.Integer({ minimum: 0, maximum: 64 }),
    /** Worker slots Caddy's config declares up front (the ceiling for `fleetpulse scale`). @default 8 */
    maxWorkers: Type.Integer({ minimum: 1, maximum: 64 }),
    /** `caddy` in front of per-worker addresses, or `cluster` (one shared port). `auto`: caddy when on PATH. @default auto */
    balancer: Type.Union([Type.Literal(Balancer.Auto), Type.Literal(Balancer.Caddy), Type.Literal(Balancer.Cluster)]),
    /** Port of every worker on its own loopback address 127.0.0.(2+slot) (`caddy` balancer). @default 9100 */
    workerPort: Port,
    /** Protocol Caddy uses to proxy push ingest to the workers. @default h1 */
    upstreamProtocol: Type.Union([Type.Literal(UpstreamProtocol.H1), Type.Literal(UpstreamProtocol.H2c)]),
    /** The Caddy balancer (`balancer: caddy`): admin endpoint, state directory, health checks. */
    caddy: CaddySchema,
    ingest: IngestSchema,
    retention: RetentionSchema,
    state: StateSchema,
    stream: StreamSchema,
    live: LiveSchema,
    auth: AuthSchema,
    /** Connection limits and timeouts of every worker's public server (slow clients). */
    http: HttpSchema,
    demo: DemoSchema,
    /** pino level (FLEETPULSE_LOG_LEVEL, --log-level). @default info */
    logLevel: Type.Union(LogLevel.map((l) => Type.Literal(l))),
  },
  strict,
);

export type ClusterConfig = Static<typeof ClusterConfigSchema>;
export type IngestConfig = ClusterConfig['ingest'];
export type RetentionConfig = ClusterConfig['retention'];
export type StateConfig = ClusterConfig['state'];
export type StreamConfig = ClusterConfig['stream'];
export type LiveConfig = ClusterConfig['live'];
export type AuthConfig = ClusterConfig['auth'];
export type HttpConfig = ClusterConfig['http'];
export type CaddyConfig = ClusterConfig['caddy'];

/** The config after load: `auto`/0 placeholders resolved, deep-frozen. */
export type ResolvedConfig = Readonly<Omit<ClusterConfig, 'balancer'> & { balancer: 'caddy' | 'cluster'; balancerReason: string }>;

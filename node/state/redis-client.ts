/**
 * The Redis connection of the state store: ioredis 5 (NOTES.md §6) configured to fail fast while
 * Redis is unreachable, standalone or Cluster (detected), with our Lua scripts defined.
 *
 * Outage behaviour, and why:
 * - `enableOfflineQueue: false`: a command issued while disconnected rejects at once instead of
 *   waiting in an unbounded in-memory queue (ioredis' default) — ingest answers 503 right away.
 * - `maxRetriesPerRequest: 0` + `autoResendUnfulfilledCommands: false`: commands in flight when
 *   the connection drops reject immediately and are never replayed after reconnect, so a write
 *   is never applied twice and no ack is sent for a write whose outcome is unknown.
 * - `retryStrategy` reconnects forever (≤ 1 s apart): recovery needs no manual action.
 * - `commandTimeout`: a Redis that hangs (not just closes) also fails requests in bounded time.
 *
 * Cluster: `redis://h1:p1,h2:p2` names seed nodes of a Redis Cluster; a single `redis://host:port`
 * is probed with `INFO cluster` once connected and switches to the Cluster client when
 * `cluster_enabled:1`.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ErrorCode, FleetPulseError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { HEADS_LUA, META_LUA, PUT_LUA, READ_LUA, SEQ_LUA } from './redis-scripts.js';
import { RespPipe } from './resp-pipe.js';

type Arg = string | Buffer | number;

/** The custom commands defineCommand adds (ioredis types them dynamically). */
export interface ScriptCommands {
  /** fp_put; numkeys first (the number of keys varies per call). */
  fpPut(...args: Arg[]): Promise<unknown>;
  fpReadBuffer(writersKey: string, ...args: Arg[]): Promise<unknown>;
  /** fp_heads; numkeys first. */
  fpHeadsBuffer(...args: Arg[]): Promise<unknown>;
  fpMeta(metricsKey: string, ...args: Arg[]): Promise<unknown>;
  fpSeq(key: string, seq: string, ttlMs: number): Promise<unknown>;
}

export type AnyRedis = (Redis | Cluster) & ScriptCommands;

export interface RedisConnectionOptions {
  url: string;
  /** Bound on every command, ms. */
  commandTimeoutMs: number;
  log: Logger;
  /** Called on every change between usable and unusable. */
  onAvailability?: (up: boolean) => void;
  /** Called each time the client becomes ready (first connect and every reconnect). */
  onReady?: () => void;
}

const retry = (times: number): number => Math.min(100 * times, 1000);

interface ParsedUrl {
  nodes: Array<{ host: string; port: number }>;
  common: RedisOptions;
}

/** `redis[s]://[user:pass@]host:port[,host:port…][/db]` → nodes + connection options. */
export function parseRedisUrl(url: string): ParsedUrl {
  const m = /^(rediss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(?:\/(\d+))?/.exec(url);
  if (m === null) throw new Error(`not a redis URL: ${url}`);
  const nodes = m[4]!.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = i === -1 ? hp : hp.slice(0, i);
    return { host: host.replace(/^\[|\]$/g, ''), port: i === -1 ? 6379 : Number(hp.slice(i + 1)) };
  });
  const common: RedisOptions = {};
  if (m[2] !== undefined && m[2] !== '') common.username = decodeURIComponent(m[2]);
  if (m[3] !== undefined) common.password = decodeURIComponent(m[3]);
  if (m[5] !== undefined) common.db = Number(m[5]);
  if (m[1] === 'rediss') common.tls = {};
  return { nodes, common };
}

function defineScripts(c: Redis | Cluster): AnyRedis {
  c.defineCommand('fpPut', { lua: PUT_LUA });
  c.defineCommand('fpRead', { lua: READ_LUA, numberOfKeys: 1, readOnly: true });
  c.defineCommand('fpHeads', { lua: HEADS_LUA, readOnly: true });
  c.defineCommand('fpMeta', { lua: META_LUA, numberOfKeys: 1 });
  c.defineCommand('fpSeq', { lua: SEQ_LUA, numberOfKeys: 1 });
  return c as AnyRedis;
}

export class RedisConnection {
  readonly #o: RedisConnectionOptions;
  readonly #parsed: ParsedUrl;
  #client: AnyRedis | undefined;
  #cluster = false;
  #up = false;
  #closed = false;
  #probed = false;
  #lastError: Error | undefined;
  /** Standalone Redis: the tick writes' own connection (resp-pipe.ts). */
  #pipe: RespPipe | undefined;

  constructor(o: RedisConnectionOptions) {
    this.#o = o;
    this.#parsed = parseRedisUrl(o.url);
    const base: RedisOptions = {
      ...this.#parsed.common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: o.commandTimeoutMs,
      connectTimeout: Math.min(o.commandTimeoutMs, 5000),
      retryStrategy: retry,
      enableAutoPipelining: true,
      // fp_put is one big command per part of a tick: written to the socket at once, Redis runs it
      // while the worker merges the next part (auto-pipelining held every part of a tick back
      // until the tick's synchronous work ended; measured: the worker idled 25% instead of 8%).
      autoPipeliningIgnoredCommands: ['fpPut'],
    };
    if (this.#parsed.nodes.length > 1) this.#startCluster(base);
    else {
      const n = this.#parsed.nodes[0]!;
      this.#attach(defineScripts(new Redis({ ...base, host: n.host, port: n.port })), base);
    }
  }

  #startCluster(base: RedisOptions): void {
    this.#cluster = true;
    const { enableAutoPipelining: _a, retryStrategy: _r, ...redisOptions } = base;
    const opts: ClusterOptions = {
      redisOptions,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      // Auto-pipelining picks a command's node by its first argument; these scripts' is numkeys.
      autoPipeliningIgnoredCommands: ['fpPut', 'fpHeads'],
      clusterRetryStrategy: retry,
      scaleReads: 'master',
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2000,
    };
    this.#attach(defineScripts(new Cluster(this.#parsed.nodes, opts)), base);
  }

  #attach(c: AnyRedis, base: RedisOptions): void {
    this.#client = c;
    // An 'error' listener is required (ioredis prints unhandled error events); per-command
    // failures reach their callers as rejections, so only the availability change is logged.
    c.on('error', (err: Error) => {
      this.#lastError = err;
    });
    c.on('close', () => this.#setUp(false));
    c.on('end', () => this.#setUp(false));
    c.on('ready', () => {
      if (!this.#cluster && !this.#probed) {
        void this.#probe(c, base);
        return;
      }
      this.#setUp(true);
      this.#o.onReady?.();
    });
  }

  /** First connect of a single URL: is it a Cluster node? */
  async #probe(c: AnyRedis, base: RedisOptions): Promise<void> {
    try {
      const info = await (c as Redis).info('cluster');
      this.#probed = true;
      if (/cluster_enabled:1/.test(info)) {
        this.#o.log.info('redis at the configured URL is a Redis Cluster node: switching to the cluster client');
        c.removeAllListeners();
        c.on('error', () => {});
        c.disconnect();
        if (!this.#closed) this.#startCluster(base);
        return;
      }
      this.#pipe ??= this.#standalonePipe();
      this.#setUp(true);
      this.#o.onReady?.();
    } catch (err) {
      // Lost the connection while probing: the next 'ready' probes again.
      this.#o.log.debug({ err }, 'redis cluster probe failed');
    }
  }

  #setUp(up: boolean): void {
    if (this.#closed || up === this.#up) return;
    this.#up = up;
    if (up) this.#o.log.info({ cluster: this.#cluster }, 'redis available');
    else this.#o.log.warn({ err: this.#lastError }, 'redis unavailable: ingest answers 503 and /readyz is not ready until it returns');
    this.#o.onAvailability?.(up);
  }

  #standalonePipe(): RespPipe {
    const n = this.#parsed.nodes[0]!;
    const c = this.#parsed.common;
    return new RespPipe({
      host: n.host, port: n.port, timeoutMs: this.#o.commandTimeoutMs,
      ...(c.username === undefined ? {} : { username: c.username }),
      ...(c.password === undefined ? {} : { password: c.password }),
      ...(c.db === undefined ? {} : { db: c.db }),
      ...(c.tls === undefined ? {} : { tls: true }),
    });
  }

  /** Standalone Redis (once known): the connection tick writes go through; undefined on a Cluster. */
  get pipe(): RespPipe | undefined {
    return this.#pipe;
  }

  /** The client, or undefined before the first connect decided standalone vs Cluster. */
  get client(): AnyRedis | undefined {
    return this.#client;
  }

  get isCluster(): boolean {
    return this.#cluster;
  }

  /** Usable now (connected, ready, and the mode is known). */
  ready(): boolean {
    return this.#up && this.#client?.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pipe?.close();
    const c = this.#client;
    if (c === undefined) return;
    try {
      if (c.status === 'ready') await c.quit();
      else c.disconnect();
    } catch {
      c.disconnect();
    }
  }
}

export function unavailable(message: string, cause?: unknown): FleetPulseError {
  return new FleetPulseError(ErrorCode.STATE_UNAVAILABLE, `state store unavailable: ${message}`, { retryAfterS: 1, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Redis failures → coded errors. Script or usage errors (`ERR …`, a bug on our side) are INTERNAL;
 * everything else — connection lost, timeouts, LOADING, CLUSTERDOWN, OOM — is retryable 503.
 */
export function toStateError(err: unknown): FleetPulseError {
  if (err instanceof FleetPulseError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'ReplyError' && /^(ERR|WRONGTYPE)/.test(msg)) {
    return new FleetPulseError(ErrorCode.INTERNAL, `redis rejected a command: ${msg}`, { cause: err });
  }
  return unavailable(msg, err);
}

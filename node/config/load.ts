/**
 * Load the configuration once: defaults (cluster.config.ts) ← FLEETPULSE_CONFIG (JSON, deep-merged)
 * ← env twins (FLEETPULSE_*) ← CLI flags. Then validate against the schema, collecting *every*
 * problem into one CONFIG_INVALID, resolve the `auto`/0 placeholders, and deep-freeze.
 * This is the only module that reads process.env-style input.
 */
import { availableParallelism } from 'node:os';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import defaults from '../../cluster.config.js';
import { ErrorCode, FleetPulseError } from '../errors.js';
import { ClusterConfigSchema, type ClusterConfig, type ResolvedConfig } from './schema.js';

/** CLI flags of `fleetpulse start` (DESIGN.md §8), already split by the CLI parser. */
export interface StartFlags {
  host?: string;
  workers?: string;
  port?: string;
  'tls-port'?: string;
  'admin-port'?: string;
  balancer?: string;
  state?: string;
  redis?: string;
  demo?: string;
  'log-level'?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** env name → config path and how to parse it. Documented in the README's configuration table. */
export const envTwins: ReadonlyArray<{ env: string; path: string; kind: 'int' | 'string' | 'list' }> = [
  { env: 'FLEETPULSE_HOST', path: 'host', kind: 'string' },
  { env: 'FLEETPULSE_PORT', path: 'port', kind: 'int' },
  { env: 'FLEETPULSE_TLS_PORT', path: 'tlsPort', kind: 'int' },
  { env: 'FLEETPULSE_ADMIN_PORT', path: 'adminPort', kind: 'int' },
  { env: 'FLEETPULSE_WORKERS', path: 'workers', kind: 'int' },
  { env: 'FLEETPULSE_MAX_WORKERS', path: 'maxWorkers', kind: 'int' },
  { env: 'FLEETPULSE_WORKER_PORT', path: 'workerPort', kind: 'int' },
  { env: 'FLEETPULSE_BALANCER', path: 'balancer', kind: 'string' },
  { env: 'FLEETPULSE_UPSTREAM_PROTOCOL', path: 'upstreamProtocol', kind: 'string' },
  { env: 'FLEETPULSE_CADDY_DATA_DIR', path: 'caddy.dataDir', kind: 'string' },
  { env: 'FLEETPULSE_CADDY_ADMIN_PORT', path: 'caddy.adminPort', kind: 'int' },
  { env: 'FLEETPULSE_STATE', path: 'state.mode', kind: 'string' },
  { env: 'FLEETPULSE_REDIS_URL', path: 'state.redisUrl', kind: 'string' },
  { env: 'FLEETPULSE_INGEST_KEYS', path: 'auth.ingestKeys', kind: 'list' },
  { env: 'FLEETPULSE_READ_KEYS', path: 'auth.readKeys', kind: 'list' },
  { env: 'FLEETPULSE_RATE_LIMIT', path: 'auth.rateLimit', kind: 'int' },
  { env: 'FLEETPULSE_KEY_FILE', path: 'auth.keyFile', kind: 'string' },
  { env: 'FLEETPULSE_ALLOWED_ORIGINS', path: 'auth.allowedOrigins', kind: 'list' },
  { env: 'FLEETPULSE_LIVE_FLUSH_MS', path: 'live.flushMs', kind: 'int' },
  { env: 'FLEETPULSE_LOG_LEVEL', path: 'logLevel', kind: 'string' },
];

const flagTwins: ReadonlyArray<{ flag: keyof StartFlags; path: string; kind: 'int' | 'string' }> = [
  { flag: 'host', path: 'host', kind: 'string' },
  { flag: 'workers', path: 'workers', kind: 'int' },
  { flag: 'port', path: 'port', kind: 'int' },
  { flag: 'tls-port', path: 'tlsPort', kind: 'int' },
  { flag: 'admin-port', path: 'adminPort', kind: 'int' },
  { flag: 'balancer', path: 'balancer', kind: 'string' },
  { flag: 'state', path: 'state.mode', kind: 'string' },
  { flag: 'redis', path: 'state.redisUrl', kind: 'string' },
  { flag: 'demo', path: 'demo.sources', kind: 'int' },
  { flag: 'log-level', path: 'logLevel', kind: 'string' },
];

export interface LoadOptions {
  env?: Env;
  flags?: StartFlags;
  /** Whether `caddy` can be run; injected by tests. Defaults to a PATH lookup. */
  caddyAvailable?: boolean;
}

/** Build, validate, resolve and freeze the config. Throws CONFIG_INVALID listing every problem. */
export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? {};
  const problems: string[] = [];
  const raw: Record<string, unknown> = structuredClone(defaults) as Record<string, unknown>;

  const json = env.FLEETPULSE_CONFIG;
  if (json !== undefined && json !== '') {
    try {
      const parsed: unknown = JSON.parse(json);
      if (!isPlainObject(parsed)) problems.push('FLEETPULSE_CONFIG: must be a JSON object');
      else deepMerge(raw, parsed);
    } catch (err) {
      problems.push(`FLEETPULSE_CONFIG: not valid JSON (${(err as Error).message})`);
    }
  }
  for (const t of envTwins) {
    const v = env[t.env];
    if (v !== undefined && v !== '') setPath(raw, t.path, parseScalar(v, t.kind));
  }
  for (const t of flagTwins) {
    const v = opts.flags?.[t.flag];
    if (v !== undefined) setPath(raw, t.path, parseScalar(v, t.kind));
  }
  mergeKeyFile(raw, problems);
  const caddyAvailable = opts.caddyAvailable ?? commandOnPath('caddy');
  // Asking for caddy explicitly without the binary is a startup error, not a silent fallback.
  if (raw.balancer === 'caddy' && !caddyAvailable) {
    problems.push('/balancer: caddy was requested but no `caddy` executable is on PATH; install it (node scripts/ensure-system-deps.mjs) or use --balancer cluster');
  }
  return validateAndResolve(raw, problems, caddyAvailable);
}

/** Validate an already-merged config object (a worker re-validates what its primary sent). */
export function validateAndResolve(raw: unknown, problems: string[] = [], caddyAvailable = false): ResolvedConfig {
  for (const e of Value.Errors(ClusterConfigSchema, raw)) {
    // Never echo a key back (stderr ends up in logs): only its position in the list.
    const secret = /^\/auth\/(ingestKeys|readKeys)\//.test(e.path);
    problems.push(`${e.path || '/'}: ${e.message}${e.value !== undefined && typeof e.value !== 'object' && !secret ? ` (got ${JSON.stringify(e.value)})` : ''}`);
  }
  if (problems.length > 0) throw configError(problems);
  const cfg = raw as ClusterConfig & { balancerReason?: string };
  problems.push(...semanticProblems(cfg));
  if (problems.length > 0) throw configError(problems);

  const workers = cfg.workers === 0 ? Math.min(availableParallelism(), cfg.maxWorkers) : cfg.workers;
  let balancer: 'caddy' | 'cluster';
  let balancerReason: string;
  if (cfg.balancer === 'auto') {
    balancer = caddyAvailable ? 'caddy' : 'cluster';
    balancerReason = caddyAvailable ? 'auto: caddy found on PATH' : 'auto: caddy not found on PATH, using the node:cluster shared port';
  } else {
    balancer = cfg.balancer;
    balancerReason = cfg.balancerReason ?? `set explicitly to ${cfg.balancer}`;
  }
  return deepFreeze({ ...cfg, workers, balancer, balancerReason });
}

function semanticProblems(cfg: ClusterConfig): string[] {
  const p: string[] = [];
  const r = cfg.retention;
  if (r.fineSpanMs % r.fineStepMs !== 0) p.push('/retention/fineSpanMs: must be a multiple of fineStepMs');
  if (r.coarseStepMs % r.fineStepMs !== 0) p.push('/retention/coarseStepMs: must be a multiple of fineStepMs');
  if (r.coarseSpanMs % r.coarseStepMs !== 0) p.push('/retention/coarseSpanMs: must be a multiple of coarseStepMs');
  if (r.coarseSpanMs < r.fineSpanMs) p.push('/retention/coarseSpanMs: must be at least fineSpanMs');
  if (cfg.workers > cfg.maxWorkers) p.push(`/workers: ${cfg.workers} is more than maxWorkers (${cfg.maxWorkers})`);
  if (!isLoopbackHost(cfg.host) && (cfg.auth.ingestKeys.length === 0 || cfg.auth.readKeys.length === 0)) {
    const missing = cfg.auth.ingestKeys.length === 0 && cfg.auth.readKeys.length === 0 ? 'no keys are configured; anyone could write and read'
      : cfg.auth.ingestKeys.length === 0 ? 'no ingest keys are configured; anyone could write' : 'no read keys are configured; anyone could read';
    p.push(
      `/host: ${cfg.host} is not a loopback address and ${missing}. ` +
        'Set both FLEETPULSE_INGEST_KEYS and FLEETPULSE_READ_KEYS (comma-separated, 8+ characters each, e.g. from `openssl rand -hex 24`), ' +
        'or list them in a key file (FLEETPULSE_KEY_FILE: lines `ingest <key>` / `read <key>`), or bind --host 127.0.0.1. See SECURITY.md',
    );
  }
  for (const o of cfg.auth.allowedOrigins) {
    if (!/^https?:\/\/[^/\s]+$/i.test(o)) p.push(`/auth/allowedOrigins: ${JSON.stringify(o)} is not an origin like https://dash.example.com (scheme://host[:port], no path)`);
  }
  if (cfg.state.mode === 'redis' && !/^rediss?:\/\//.test(cfg.state.redisUrl)) p.push('/state/redisUrl: must start with redis:// or rediss://');
  return p;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `auth.keyFile`: add its keys to auth.ingestKeys/readKeys. Format, one per line: `ingest <key>` or
 * `read <key>`; blank lines and `#` comments ignored. A file other users can read is refused (like
 * ssh's private keys): keys are credentials. Problems never quote a key, only its line number.
 */
function mergeKeyFile(raw: Record<string, unknown>, problems: string[]): void {
  const auth = raw.auth as Record<string, unknown> | undefined;
  const file = auth?.keyFile;
  if (auth === undefined || typeof file !== 'string' || file === '') return;
  let text: string;
  try {
    if ((statSync(file).mode & 0o007) !== 0) {
      problems.push(`/auth/keyFile: ${file} is readable or writable by other users; run chmod 600 ${file}`);
      return;
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`/auth/keyFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return;
  }
  const ingest = Array.isArray(auth.ingestKeys) ? [...(auth.ingestKeys as unknown[])] : [];
  const read = Array.isArray(auth.readKeys) ? [...(auth.readKeys as unknown[])] : [];
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    const m = /^(ingest|read)\s+(\S+)$/.exec(l);
    if (m === null) problems.push(`/auth/keyFile: ${file} line ${i + 1}: expected \`ingest <key>\` or \`read <key>\``);
    else (m[1] === 'ingest' ? ingest : read).push(m[2]);
  });
  auth.ingestKeys = ingest;
  auth.readKeys = read;
}

function configError(problems: string[]): FleetPulseError {
  return new FleetPulseError(ErrorCode.CONFIG_INVALID, `invalid configuration:\n  - ${problems.join('\n  - ')}`);
}

function parseScalar(v: string, kind: 'int' | 'string' | 'list'): unknown {
  if (kind === 'list') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (kind === 'int') return /^-?\d+$/.test(v.trim()) ? Number(v) : v; // leave bad input for the schema to report
  return v;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (!isPlainObject(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
}

function deepMerge(target: Record<string, unknown>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    const t = target[k];
    if (isPlainObject(v) && isPlainObject(t)) deepMerge(t, v);
    else target[k] = v;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** True when an executable of that name is on PATH. */
export function commandOnPath(name: string, pathEnv = process.env.PATH ?? ''): boolean {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Env var through which the primary hands its validated config to each worker. */
export const WORKER_CONFIG_ENV = 'FLEETPULSE_WORKER_CONFIG';
export const WORKER_SLOT_ENV = 'FLEETPULSE_WORKER_SLOT';
/** The instance's private directory (mode 0700) for worker-to-worker Unix sockets. */
export const WORKER_LINK_DIR_ENV = 'FLEETPULSE_WORKER_LINK_DIR';

/** Worker side: re-validate the config the primary serialized (never trust IPC/env blindly). */
export function loadWorkerConfig(env: Env): { cfg: ResolvedConfig; slot: number; linkDir: string } {
  const text = env[WORKER_CONFIG_ENV];
  const slot = Number(env[WORKER_SLOT_ENV]);
  const linkDir = env[WORKER_LINK_DIR_ENV];
  if (text === undefined || linkDir === undefined || !Number.isInteger(slot) || slot < 0) {
    throw configError([`${WORKER_CONFIG_ENV}, ${WORKER_SLOT_ENV} and ${WORKER_LINK_DIR_ENV} must be set by the primary`]);
  }
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const { balancerReason, ...rest } = parsed;
  const cfg = validateAndResolve(rest, [], false);
  return { cfg: Object.freeze({ ...cfg, balancerReason: String(balancerReason) }), slot, linkDir };
}

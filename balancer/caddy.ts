/**
 * Caddy as a child process of the primary: render the Caddyfile into the state directory, run
 * `caddy run`, relay its log lines, wait until it really serves (a /readyz answered through it and
 * a TLS handshake), restart it with backoff if it dies, and stop it by PID.
 *
 * Caddy never touches /var/lib or $HOME: its XDG_DATA_HOME / XDG_CONFIG_HOME point into
 * `caddy.dataDir`, where the internal CA keeps its root certificate (see {@link rootCertPath}).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import type { ResolvedConfig } from '../node/config/schema.js';
import type { Logger } from '../node/observability/logger.js';
import { GRACE_PERIOD_S, renderCaddyfile } from './caddyfile.js';

/** Go's GC target for Caddy unless the environment sets GOGC (see #spawn). */
export const CADDY_GOGC = '400';
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;
/** A Caddy that stayed up this long is healthy again: its restart backoff resets. */
const HEALTHY_AFTER_MS = 30_000;
const READY_TIMEOUT_MS = 20_000;
/** Fresh starts tried when Caddy postpones its local certificate at startup (see #certPostponed). */
const START_ATTEMPTS = 3;
/** Warnings Caddy prints for choices this config makes on purpose; logged at debug, not warn. */
const EXPECTED_WARNINGS = new Set(['admin endpoint disabled', 'automatic HTTP->HTTPS redirects are disabled', 'stapling OCSP', 'exiting; byeee!! 👋']);

/** Where Caddy's internal CA keeps the root certificate clients must trust for the TLS port. */
export function rootCertPath(dataDir: string): string {
  return join(resolve(dataDir), 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');
}

/** The host clients use to reach a bind address (a wildcard bind is reached on loopback). */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === 'localhost') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

function urlHost(host: string): string {
  const h = connectHost(host);
  return h.includes(':') ? `[${h}]` : h;
}

/** Caddy postponed obtaining its local certificate during startup: a fresh start obtains it. */
class CertPostponedError extends Error {}

export interface CaddyUrls {
  http: string;
  https: string;
}

export class CaddyProcess {
  readonly #cfg: ResolvedConfig;
  readonly #log: Logger;
  readonly #bin: string;
  readonly #configPath: string;
  readonly #dataDir: string;
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;
  #backoffMs = RESTART_MIN_MS;
  #restartTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  /**
   * Caddy 2.6.2 postponed obtaining its local certificate ("will retry" in 60 s): its storage
   * cleaner, which runs as it starts, can delete the certificate being written ("key is empty")
   * and the obtain fails. Until the retry the TLS port refuses every handshake; a fresh start
   * obtains it at once (seen in a clean-clone CI run: the cluster gave up after 20 s).
   */
  #certPostponed = false;
  /** The last stderr lines, for startup failures. */
  #tail: string[] = [];

  constructor(cfg: ResolvedConfig, log: Logger, bin = 'caddy') {
    this.#cfg = cfg;
    this.#log = log;
    this.#bin = bin;
    this.#dataDir = resolve(cfg.caddy.dataDir);
    this.#configPath = join(this.#dataDir, 'Caddyfile');
  }

  get urls(): CaddyUrls {
    return { http: `http://${urlHost(this.#cfg.host)}:${this.#cfg.port}`, https: `https://${urlHost(this.#cfg.host)}:${this.#cfg.tlsPort}` };
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get configPath(): string {
    return this.#configPath;
  }

  get rootCertPath(): string {
    return rootCertPath(this.#dataDir);
  }

  /** Write the config, start Caddy, and resolve once it proxies to a ready worker over both ports. */
  async start(): Promise<void> {
    mkdirSync(join(this.#dataDir, 'data'), { recursive: true });
    mkdirSync(join(this.#dataDir, 'config'), { recursive: true });
    writeFileSync(this.#configPath, renderCaddyfile(this.#cfg));
    for (let attempt = 1; ; attempt++) {
      this.#stopping = false;
      this.#certPostponed = false;
      const exited = this.#spawn();
      const deadline = Date.now() + READY_TIMEOUT_MS;
      const failed = exited.then((code) => {
        throw new Error(`caddy exited (code ${code}) during startup:\n${this.#tail.join('\n')}`);
      });
      try {
        await Promise.race([failed, this.#waitServing(deadline)]);
        failed.catch(() => {}); // later exits are handled by the restart logic
        break;
      } catch (err) {
        failed.catch(() => {});
        this.#stopping = true;
        await this.stop();
        if (!(err instanceof CertPostponedError) || attempt === START_ATTEMPTS) throw err;
        this.#log.warn({ attempt }, 'caddy postponed its local TLS certificate (its storage cleaner raced the first obtain); starting it again');
      }
    }
    this.#log.info({ caddyPid: this.pid, config: this.#configPath, rootCert: this.rootCertPath, ...this.urls }, 'caddy serving');
  }

  #spawn(): Promise<number | null> {
    this.#startedAt = Date.now();
    // Caddy's state goes under dataDir; PATH etc. are passed through so `caddy` finds what it needs.
    // GOGC 400 unless the operator set one: Caddy's heap is small (RSS ~46 → ~69 MB under push
    // load), and collecting it a quarter as often took 11% off Caddy's CPU per proxied request.
    const env = { GOGC: CADDY_GOGC, ...process.env, XDG_DATA_HOME: join(this.#dataDir, 'data'), XDG_CONFIG_HOME: join(this.#dataDir, 'config') };
    // Its own process group: a Ctrl-C in the terminal reaches the primary, which then stops Caddy
    // after the workers drained, instead of Caddy dropping in-flight requests at once.
    const child = spawn(this.#bin, ['run', '--config', this.#configPath, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        this.#relay(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (buf.length > 64 * 1024) buf = ''; // a runaway line: drop it rather than grow
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (err) => this.#log.error({ err }, 'caddy could not be started'));
    return new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        if (this.#child === child) this.#child = undefined;
        resolveExit(code);
        if (this.#stopping) return;
        // Health of the balancer itself: restart with backoff (reset once it stayed up a while).
        if (Date.now() - this.#startedAt > HEALTHY_AFTER_MS) this.#backoffMs = RESTART_MIN_MS;
        this.#restarts++;
        this.#log.error({ code, signal, restartInMs: this.#backoffMs, restarts: this.#restarts, output: this.#tail.slice(-5) }, 'caddy exited unexpectedly; restarting');
        this.#restartTimer = setTimeout(() => {
          this.#restartTimer = undefined;
          if (!this.#stopping) void this.#spawn();
        }, this.#backoffMs);
        this.#backoffMs = Math.min(RESTART_MAX_MS, this.#backoffMs * 2);
      });
    });
  }

  /** Caddy logs JSON lines on stderr: keep warnings and errors, demote the rest to debug. */
  #relay(line: string): void {
    if (line.trim() === '') return;
    this.#tail.push(line.length > 2000 ? line.slice(0, 2000) : line);
    if (this.#tail.length > 40) this.#tail.shift();
    let entry: { level?: unknown; msg?: unknown; logger?: unknown } | undefined;
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      entry = undefined;
    }
    if (entry === undefined || typeof entry !== 'object' || entry === null) {
      this.#log.info({ caddy: line.slice(0, 500) }, 'caddy output');
      return;
    }
    if (entry.logger === 'tls.obtain' && entry.msg === 'will retry') this.#certPostponed = true;
    const fields = { caddyLogger: entry.logger, caddy: entry };
    const msg = typeof entry.msg === 'string' ? `caddy: ${entry.msg}` : 'caddy';
    switch (entry.level) {
      case 'error':
      case 'fatal':
      case 'panic':
        this.#log.error(fields, msg);
        break;
      case 'warn':
        if (typeof entry.msg === 'string' && EXPECTED_WARNINGS.has(entry.msg)) this.#log.debug(fields, msg);
        else this.#log.warn(fields, msg);
        break;
      default:
        this.#log.debug(fields, msg);
    }
  }

  /** Bounded wait until /readyz answers 200 through Caddy's plain port and the TLS port handshakes. */
  async #waitServing(deadline: number): Promise<void> {
    const host = connectHost(this.#cfg.host);
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.#certPostponed) throw new CertPostponedError(`caddy postponed its local certificate. Caddy output:\n${this.#tail.join('\n')}`);
      const plain = await httpStatus(host, this.#cfg.port, '/readyz').catch((err: Error) => err.message);
      if (plain === 200) {
        const hs = await tlsHandshake(host, this.#cfg.tlsPort).catch((err: Error) => err.message);
        if (hs === true) return;
        last = `TLS port ${this.#cfg.tlsPort}: ${hs}`;
      } else last = `GET /readyz on port ${this.#cfg.port}: ${plain}`;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`caddy did not serve within ${READY_TIMEOUT_MS} ms (${last}). Caddy output:\n${this.#tail.join('\n')}`);
  }

  /** Synchronous last resort (the primary is exiting): SIGKILL by PID, no restart. */
  kill(): void {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** SIGTERM by PID (Caddy drains for grace_period), SIGKILL if it is still there after that. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), GRACE_PERIOD_S * 1000 + 1500);
    await gone;
    clearTimeout(kill);
    this.#log.info({ caddyPid: child.pid }, 'caddy stopped');
  }
}

function httpStatus(host: string, port: number, path: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = http.get({ host, port, path, agent: false, timeout: 2000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', rej);
  });
}

/** True once a TLS handshake (certificate not verified: this only proves Caddy serves TLS) succeeds. */
function tlsHandshake(host: string, port: number): Promise<true> {
  return new Promise((res, rej) => {
    const s = tls.connect({ host, port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'], timeout: 2000 }, () => {
      s.end();
      res(true);
    });
    s.on('timeout', () => s.destroy(new Error('TLS handshake timed out')));
    s.on('error', rej);
  });
}

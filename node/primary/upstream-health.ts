/**
 * Balancer upstream health as the primary sees it, per declared worker slot
 * (fleetpulse_balancer_upstream_up{slot}), refreshed every caddy.healthIntervalMs:
 * - caddy: the primary probes each slot's `GET /healthz` on 127.0.0.(2+slot):workerPort itself —
 *   the same request, address and interval as Caddy's active health check (balancer/caddyfile.ts),
 *   so it sees what Caddy sees without Caddy's admin API (off by default: every test instance
 *   would fight over one admin port). When caddy.adminPort is set, Caddy's own view is polled too:
 *   GET /reverse_proxy/upstreams gives per upstream `num_requests` and `fails` (NOTES.md §1.7;
 *   2.6.2 reports no active-health flag there), exported as fleetpulse_balancer_upstream_requests
 *   and fleetpulse_balancer_upstream_fails.
 * - cluster: node:cluster hands connections only to live workers, so a slot is up while its worker
 *   is a cluster member.
 * Transitions are logged once each (StateChangeLogger), never per probe.
 */
import http from 'node:http';
import type { Logger } from '../observability/logger.js';
import type { PrimaryMetrics } from '../observability/metrics.js';
import { StateChangeLogger } from '../observability/state-change.js';
import { workerDial } from '../state/ownership.js';

export interface UpstreamHealthDeps {
  cfg: {
    balancer: 'caddy' | 'cluster';
    /** Declared worker slots. */
    maxWorkers: number;
    workerPort: number;
    /** Refresh interval, ms: caddy.healthIntervalMs, Caddy's own health-check interval. */
    intervalMs: number;
    /** Caddy's admin API port (caddy.adminPort); 0 = admin off. */
    caddyAdminPort: number;
  };
  metrics: Pick<PrimaryMetrics, 'upstreamUp' | 'upstreamFails' | 'upstreamRequests'>;
  log: Logger;
  /** Slots whose worker is a live cluster member. */
  members: () => readonly number[];
}

type Health = 'up' | 'down';

/** GET `url`; resolves with the status code, or 0 on any error or timeout. */
function probe(url: string, agent: http.Agent, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

/** GET a JSON document; undefined on any failure. */
async function getJson(url: string, agent: http.Agent, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', () => resolve(undefined));
      res.once('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
  });
}

export class UpstreamHealth {
  readonly #d: UpstreamHealthDeps;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  readonly #slots: Array<{ slot: number; dial: string; state: StateChangeLogger<Health> }>;
  readonly #caddyAdmin: StateChangeLogger<'reachable' | 'unreachable'>;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(d: UpstreamHealthDeps) {
    this.#d = d;
    const log = d.log.child({ mod: 'upstreams' });
    this.#slots = Array.from({ length: d.cfg.maxWorkers }, (_, slot) => ({
      slot,
      dial: workerDial(slot, d.cfg.workerPort),
      // Empty slots are down by design (scaling never reloads Caddy): only changes are news.
      state: new StateChangeLogger<Health>(log.child({ slot }), { what: `upstream slot ${slot}`, initial: 'down' }),
    }));
    this.#caddyAdmin = new StateChangeLogger<'reachable' | 'unreachable'>(log, { what: 'caddy admin API', initial: 'reachable', levels: { unreachable: 'warn' } });
    for (const s of this.#slots) d.metrics.upstreamUp.set({ slot: String(s.slot) }, 0);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), this.#d.cfg.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#agent.destroy();
  }

  /**
   * Cluster mode: refresh from the membership now (cheap, synchronous), so a scrape never shows a
   * membership change older than the last poll. Caddy mode: nothing (probes run on their interval).
   */
  sync(): void {
    if (this.#d.cfg.balancer !== 'caddy') this.#apply(this.#clusterView());
  }

  #clusterView(): boolean[] {
    const members = new Set(this.#d.members());
    return this.#slots.map((s) => members.has(s.slot));
  }

  #apply(up: boolean[]): void {
    for (const s of this.#slots) {
      const isUp = up[s.slot] === true;
      this.#d.metrics.upstreamUp.set({ slot: String(s.slot) }, isUp ? 1 : 0);
      s.state.set(isUp ? 'up' : 'down');
    }
  }

  /** One refresh of every slot (a round still running is not overlapped). */
  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const { cfg } = this.#d;
      let up: boolean[];
      if (cfg.balancer === 'caddy') {
        const timeoutMs = Math.max(500, Math.min(2000, cfg.intervalMs));
        const codes = await Promise.all(this.#slots.map((s) => probe(`http://${s.dial}/healthz`, this.#agent, timeoutMs)));
        up = codes.map((c) => c >= 200 && c < 300);
        if (cfg.caddyAdminPort !== 0) await this.#pollCaddyAdmin(timeoutMs);
      } else up = this.#clusterView();
      this.#apply(up);
    } finally {
      this.#polling = false;
    }
  }

  async #pollCaddyAdmin(timeoutMs: number): Promise<void> {
    const { cfg, metrics } = this.#d;
    const doc = await getJson(`http://127.0.0.1:${cfg.caddyAdminPort}/reverse_proxy/upstreams`, this.#agent, timeoutMs);
    if (!Array.isArray(doc)) {
      this.#caddyAdmin.set('unreachable', { adminPort: cfg.caddyAdminPort });
      metrics.upstreamFails.reset();
      metrics.upstreamRequests.reset();
      return;
    }
    this.#caddyAdmin.set('reachable');
    const bySlot = new Map(this.#slots.map((s) => [s.dial, s.slot]));
    // Several routes proxy to the same dial address; Caddy keeps one upstream record per address.
    for (const u of doc as unknown[]) {
      const r = u as { address?: unknown; num_requests?: unknown; fails?: unknown } | null;
      if (r === null || typeof r !== 'object' || typeof r.address !== 'string') continue;
      const slot = bySlot.get(r.address);
      if (slot === undefined) continue;
      if (typeof r.fails === 'number') metrics.upstreamFails.set({ slot: String(slot) }, r.fails);
      if (typeof r.num_requests === 'number') metrics.upstreamRequests.set({ slot: String(slot) }, r.num_requests);
    }
  }
}

/**
 * Signal shapes of the simulated fleet: what real servers' metrics look like, not uniform noise.
 * - cpu: a diurnal wave (busier by day), noise, and bursts (deploys, batch jobs) of 10–90 s;
 * - memory: creeps up (caches, leaks), small drops on GC, a big drop on a "restart";
 * - disk: fills slowly, drops when logs are rotated/cleaned;
 * - network and request counters (kind counter): integrate a rate that follows the day;
 * - latency: log-normal around a per-host median, worse under CPU bursts, with rare spikes.
 * Everything is seeded by the source name, so a run is reproducible.
 */

export type MetricKind = 'gauge' | 'counter';

export interface MetricDef {
  name: string;
  unit: string;
  kind: MetricKind;
}

/** The first ten metrics; more (`--metrics` up to 100) are per-core CPU gauges. */
const BASE: readonly MetricDef[] = [
  { name: 'cpu', unit: '%', kind: 'gauge' },
  { name: 'mem.used_pct', unit: '%', kind: 'gauge' },
  { name: 'disk.used_pct', unit: '%', kind: 'gauge' },
  { name: 'net.rx_bytes', unit: 'bytes', kind: 'counter' },
  { name: 'net.tx_bytes', unit: 'bytes', kind: 'counter' },
  { name: 'http.latency_ms', unit: 'ms', kind: 'gauge' },
  { name: 'http.requests', unit: 'req', kind: 'counter' },
  { name: 'load1', unit: '', kind: 'gauge' },
  { name: 'conns', unit: '', kind: 'gauge' },
  { name: 'http.errors', unit: 'req', kind: 'counter' },
];

export function metricCatalogue(n: number): MetricDef[] {
  const out = BASE.slice(0, n);
  for (let i = BASE.length; i < n; i++) out.push({ name: `cpu.core${i - BASE.length}`, unit: '%', kind: 'gauge' });
  return out;
}

/** Roles give hosts different shapes (a database's memory, a web node's CPU). */
export const ROLES = ['web', 'api', 'db', 'cache', 'worker', 'queue'] as const;
export type Role = (typeof ROLES)[number];

/** mulberry32: small, fast, good enough for simulation. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/** One host's evolving state; `step(now)` advances it and returns every metric's value. */
export class HostSignals {
  readonly #rnd: () => number;
  readonly #dayMs: number;
  readonly #values: Float64Array;
  readonly #n: number;
  // per-host character
  readonly #phase: number;
  readonly #cpuBase: number;
  readonly #cpuAmp: number;
  readonly #memBase: number;
  readonly #memCreepPerH: number;
  readonly #diskFillPerH: number;
  readonly #latencyMedian: number;
  readonly #netScale: number;
  readonly #reqScale: number;
  readonly #cores: number;
  // evolving state
  #last = 0;
  #burstUntil = 0;
  #burstLevel = 0;
  #mem: number;
  #nextGc: number;
  #disk: number;
  #rx = 0;
  #tx = 0;
  #req = 0;
  #err = 0;
  #load = 0;
  #incidentUntil = 0;
  #spare: number | undefined;

  constructor(source: string, role: Role, metrics: number, dayMs: number) {
    const r = prng(hashString(source));
    this.#rnd = r;
    this.#dayMs = dayMs;
    this.#n = metrics;
    this.#values = new Float64Array(metrics);
    this.#phase = r() * 0.15; // hosts of one region peak at about the same hour
    const busy = role === 'web' || role === 'api' ? 1.3 : role === 'worker' ? 1.1 : 0.8;
    this.#cpuBase = (8 + r() * 15) * busy;
    this.#cpuAmp = (10 + r() * 25) * busy;
    this.#memBase = role === 'cache' ? 60 + r() * 15 : role === 'db' ? 45 + r() * 20 : 25 + r() * 20;
    this.#memCreepPerH = role === 'cache' ? 0.5 + r() : 1 + r() * 6;
    this.#mem = this.#memBase + r() * 10;
    this.#nextGc = 0;
    this.#diskFillPerH = role === 'db' || role === 'queue' ? 0.3 + r() * 1.2 : 0.05 + r() * 0.3;
    this.#disk = 30 + r() * 45;
    this.#latencyMedian = role === 'db' ? 2 + r() * 4 : role === 'cache' ? 0.3 + r() * 0.7 : 12 + r() * 30;
    this.#netScale = (0.5 + r() * 4) * 1e6 * (role === 'cache' || role === 'web' ? 3 : 1);
    this.#reqScale = (50 + r() * 400) * (role === 'web' || role === 'api' ? 2 : 0.3);
    this.#cores = [2, 4, 8, 16][Math.floor(r() * 4)]!;
  }

  /** Standard normal (Box–Muller, the spare kept). */
  #gauss(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = Math.max(this.#rnd(), 1e-12);
    const v = this.#rnd();
    const m = Math.sqrt(-2 * Math.log(u));
    this.#spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  }

  /** Advance to `now` (ms) and return the values in catalogue order (reused array). */
  step(now: number): Float64Array {
    const dtS = this.#last === 0 ? 1 : clamp((now - this.#last) / 1000, 0, 3600);
    this.#last = now;
    const r = this.#rnd;
    // Day curve in [0,1]: low at night, a peak in the afternoon.
    const day = 0.5 - 0.5 * Math.cos(2 * Math.PI * ((now / this.#dayMs + this.#phase) % 1));

    if (now >= this.#burstUntil && r() < 0.004 * dtS) {
      this.#burstUntil = now + (10 + r() * 80) * 1000;
      this.#burstLevel = 25 + r() * 45;
    }
    const burst = now < this.#burstUntil ? this.#burstLevel : 0;
    const cpu = clamp(this.#cpuBase + this.#cpuAmp * day + burst + this.#gauss() * 3, 0.5, 100);

    // Memory: creep, small GC drops every 1–5 min, a restart when it runs too high (or rarely).
    this.#mem += (this.#memCreepPerH / 3600) * dtS + this.#gauss() * 0.05;
    if (now >= this.#nextGc) {
      if (this.#nextGc !== 0) this.#mem -= 1 + r() * 4;
      this.#nextGc = now + (60 + r() * 240) * 1000;
    }
    if (this.#mem > 92 || r() < 0.00002 * dtS) this.#mem = this.#memBase + r() * 3;
    this.#mem = clamp(this.#mem, 5, 99);

    this.#disk += (this.#diskFillPerH / 3600) * dtS * (0.5 + day);
    if (this.#disk > 88 && r() < 0.01 * dtS) this.#disk -= 8 + r() * 15; // rotation / cleanup
    this.#disk = clamp(this.#disk, 1, 99.9);

    const traffic = (0.25 + 0.75 * day) * (1 + burst / 100);
    this.#rx += Math.round(this.#netScale * traffic * dtS * (0.9 + r() * 0.2));
    this.#tx += Math.round(this.#netScale * 0.6 * traffic * dtS * (0.9 + r() * 0.2));
    const reqRate = this.#reqScale * traffic;
    this.#req += Math.round(reqRate * dtS);
    if (now >= this.#incidentUntil && r() < 0.0005 * dtS) this.#incidentUntil = now + (30 + r() * 120) * 1000;
    const errRatio = now < this.#incidentUntil ? 0.05 + r() * 0.1 : 0.001;
    this.#err += Math.round(reqRate * errRatio * dtS + r() * 0.5);

    // Latency: log-normal (σ 0.35), slower when the CPU is hot, spikes 0.3% of the time.
    let latency = this.#latencyMedian * Math.exp(this.#gauss() * 0.35) * (1 + Math.max(0, cpu - 70) / 30);
    if (r() < 0.003) latency *= 5 + r() * 20;

    const loadTarget = (cpu / 100) * this.#cores;
    this.#load += (loadTarget - this.#load) * Math.min(1, dtS / 60) + this.#gauss() * 0.02;
    const conns = Math.round(this.#reqScale * traffic * (0.5 + r() * 0.1));

    const v = this.#values;
    const base = [cpu, this.#mem, this.#disk, this.#rx, this.#tx, latency, this.#req, Math.max(0, this.#load), conns, this.#err];
    const n = Math.min(this.#n, base.length);
    for (let i = 0; i < n; i++) v[i] = base[i]!;
    for (let i = base.length; i < this.#n; i++) v[i] = clamp(cpu + this.#gauss() * 8, 0, 100);
    return v;
  }
}

/**
 * CPU accounting for benches, from /proc (Linux): CPU time of process trees (the stack under test,
 * the load generators) and of the whole machine over a measured window. The machine share lets a
 * report say how much of the 2 cores went to processes outside the bench (other work on the box),
 * which is what makes a run on a shared machine honest.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clkTck(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU time of one process, ms (0 when it is gone). */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck();
  } catch {
    return 0;
  }
}

/** `pid` and every process below it (workers and Caddy under the primary), from /proc children lists. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c !== '') out.push(Number(c));
      } catch {
        // task ended
      }
    }
  }
  return [...new Set(out)];
}

/** A process's command name ('' when it is gone). */
function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The Caddy process FleetPulse's primary `root` runs (balancer caddy), if any: its CPU is reported apart from the workers'. */
export function caddyUnder(root: number): number | undefined {
  return processTree(root).find((p) => commandName(p) === 'caddy');
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already counted in user
  return { busy: total - idle, total };
}

export interface CpuWindow {
  wallMs: number;
  /** CPU of each named group over the window, as a share of ONE core (1.0 = one core fully busy). */
  groups: Record<string, number>;
  /** Whole machine busy share, 0..1 of all cores together. */
  machineBusy: number;
  /** Cores' worth of CPU used by processes outside every group (other work on the machine). */
  otherCores: number;
}

/**
 * Measure CPU of named process groups over a window. Trees are re-read at the end too, so
 * processes started during the window (a restarted worker) are included from their start.
 */
export class CpuMeter {
  readonly #roots: Record<string, number[]>;
  readonly #start = new Map<number, number>();
  #t0 = 0;
  #m0 = { busy: 0, total: 0 };

  /**
   * `roots`: group name → root pids; each root's whole process tree belongs to the group. A process
   * counts once, in the first group (in insertion order) whose trees hold it, so list the bench
   * process itself (whose tree holds everything it spawned) last, as "the rest of the generator".
   */
  constructor(roots: Record<string, number[]>) {
    this.#roots = roots;
  }

  #pids(): Map<number, string> {
    const m = new Map<number, string>();
    for (const [g, roots] of Object.entries(this.#roots)) for (const r of roots) for (const p of processTree(r)) if (!m.has(p)) m.set(p, g);
    return m;
  }

  start(): this {
    this.#start.clear();
    for (const p of this.#pids().keys()) this.#start.set(p, processCpuMs(p));
    this.#m0 = machineJiffies();
    this.#t0 = performance.now();
    return this;
  }

  stop(): CpuWindow {
    const wallMs = performance.now() - this.#t0;
    const m1 = machineJiffies();
    const groups: Record<string, number> = {};
    for (const g of Object.keys(this.#roots)) groups[g] = 0;
    let ours = 0;
    for (const [p, g] of this.#pids()) {
      // A process that exited reads 0: its share is lost rather than negative (stop before the generator exits).
      const used = Math.max(0, processCpuMs(p) - (this.#start.get(p) ?? 0));
      groups[g] = (groups[g] ?? 0) + used / wallMs;
      ours += used;
    }
    const total = m1.total - this.#m0.total;
    const busy = m1.busy - this.#m0.busy;
    const machineBusy = total > 0 ? busy / total : 0;
    const cores = total > 0 ? (total / clkTck()) * (1000 / wallMs) : 1; // jiffies over all cores → core count
    const otherCores = Math.max(0, machineBusy * cores - ours / wallMs);
    return { wallMs, groups, machineBusy, otherCores };
  }
}

/** A thread's scheduler counters (/proc/<pid>/task/<tid>/schedstat), ns: on a CPU, and runnable but waiting for one. */
export interface SchedTimes {
  runNs: number;
  waitNs: number;
}

/** The main thread's (tid = pid) scheduler counters; zeros when the process is gone or the kernel keeps none. */
export function mainThreadSched(pid: number): SchedTimes {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { runNs: run ?? 0, waitNs: wait ?? 0 };
  } catch {
    return { runNs: 0, waitNs: 0 };
  }
}

/**
 * bench/peer: FleetPulse against VictoriaMetrics (single-node, Debian package `victoria-metrics`)
 * on the same machine, with the same samples and the same generator (autocannon, HTTP/1.1
 * keep-alive, same connections): push batch 1000, FleetPulse with memory state and 2 workers,
 * direct (shared worker port) and through Caddy; VictoriaMetrics on its JSON-line import
 * (/api/v1/import) and Influx line protocol (/write). Every body holds the same 1,000 samples
 * (source, metric, value, unit, ts) in each system's format. Both stacks' stored-sample counters
 * are read afterwards, so a 2xx that stored nothing cannot pass as throughput (VM answers 204 even
 * for lines it skips). VictoriaMetrics is started fresh for each repeat and stopped by PID.
 * Not equal work: FleetPulse's 202 means the samples are applied to its state store (rings queried
 * by the live view); VM's 204 means they are parsed and queued for its storage (flushed to disk
 * within about a second). Both use both cores (2 workers vs GOMAXPROCS=2).
 * Two controls bound what any JSON push server could do here: bare Node (2 node:cluster workers that
 * read the body, JSON.parse it and sum the values; bench/baselines/bare-push.ts) direct, and the
 * same behind a Caddy with FleetPulse's ingest upstream transport and nothing else
 * (bench/lib/caddy-front.ts) — the cost of the proxy hop by itself. CPU is measured per group
 * (Caddy, the rest of the server, the generator), so the report can say what Caddy and the
 * generator alone would leave of this machine's cores at their CPU per sample: the ceiling of any
 * upstream behind this Caddy here. A third control is FleetPulse itself with one worker: it owns
 * every source, so nothing is forwarded, and its CPU per sample against the 2-worker run's is what
 * forwarding half the samples to their owner costs. For each FleetPulse run the workers' own stage
 * clock (fleetpulse_ingest_stage_seconds_total, read before and after) splits that CPU by stage:
 * decode, apply, forwarding's split/encode and decode, and everything else. The clock reads wall
 * time inside each section, so a worker preempted there counts the time other processes ran; the
 * workers' main threads' schedstat (on a CPU vs runnable and waiting) gives the share that was CPU.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { startCluster, type RunningCluster } from '../../node/testing/cluster.js';
import { hasBinary } from '../../node/testing/binaries.js';
import { caddyUnder, CpuMeter, mainThreadSched, type CpuWindow, type SchedTimes } from '../lib/cpu.js';
import { getJson } from '../../node/testing/http.js';
import { httpLoad, type HttpLoadResult } from '../lib/load.js';
import { metricTotal, scrapeMetrics } from '../lib/prom.js';
import { median, ratio, spread, type Spread } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import { startCaddyFront } from '../lib/caddy-front.js';
import { startBarePush } from '../lib/servers.js';
import { VM_BINARY, startVictoria, toInfluxLines, toVmJsonLines, type BenchSample, type Victoria } from '../lib/victoria.js';
import type { BenchContext, Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const BATCH = 1000;
const CONNECTIONS = 64;
const SOURCES = 10_000;
const BODIES = 20;

type Target = 'fleetpulse-direct' | 'fleetpulse-caddy' | 'fleetpulse-1worker' | 'vm-jsonline' | 'vm-influx' | 'bare-direct' | 'bare-caddy';
const LABEL: Record<Target, string> = {
  'fleetpulse-direct': 'FleetPulse direct (JSON)',
  'fleetpulse-caddy': 'FleetPulse via Caddy (JSON)',
  'fleetpulse-1worker': 'control: FleetPulse direct, 1 worker (nothing forwarded)',
  'vm-jsonline': 'VictoriaMetrics JSON-line import',
  'vm-influx': 'VictoriaMetrics Influx line',
  'bare-direct': 'control: bare Node (JSON.parse + sum), direct',
  'bare-caddy': 'control: bare Node (JSON.parse + sum) via Caddy',
};

/** The same samples in every format; timestamps are "now" when built (built fresh per repeat). */
function bodies(): Record<'fp' | 'vmJson' | 'influx', string[]> {
  const ts = Date.now();
  const out = { fp: [] as string[], vmJson: [] as string[], influx: [] as string[] };
  for (let j = 0; j < BODIES; j++) {
    const samples: BenchSample[] = [];
    for (let k = 0; k < BATCH; k++) {
      const i = (j * BATCH + k) % SOURCES;
      samples.push({ source: `peer-${i}`, metric: 'cpu', value: Math.round(((i * 7919 + j * 13) % 10_000)) / 100, unit: '%', ts: ts - (BODIES - j) });
    }
    out.fp.push(JSON.stringify(samples));
    out.vmJson.push(toVmJsonLines(samples));
    out.influx.push(toInfluxLines(samples));
  }
  return out;
}

interface Run extends HttpLoadResult {
  target: Target;
  rep: number;
  samplesPerSec: number;
  /** CPU of everything serving the load (Caddy included), in cores. */
  serverCores: number;
  /** Caddy's part of serverCores (0 without Caddy). */
  caddyCores: number;
  /** The load generator's (this process). */
  generatorCores: number;
  stored: number;
  /**
   * FleetPulse runs: worker CPU per stored sample by ingest stage, ns — the stage clock's time times the
   * workers' on-CPU share (see onCpuShare); `other` = the rest of the workers' CPU (HTTP, event loop,
   * GC, kernel), measured CPU less the stages.
   */
  stageNs?: Record<Stage | 'other', number>;
  /** The stage clock as it reads (wall time inside each section, preemptions included), ns per stored sample. */
  stageClockNs?: Record<Stage, number>;
  /** Of the workers' main threads' runnable time, the share they were on a CPU (schedstat): 1 = never waited for a core. */
  onCpuShare?: number;
  /** The workers' main threads' wait for a core, ns per stored sample (not CPU: time other processes ran). */
  waitNs?: number;
}

/** Measure with Caddy (when there is one) and the rest of the server apart, and the generator last (its tree holds everything). */
function meter(server: readonly number[], caddy: number | undefined): CpuMeter {
  return new CpuMeter({ caddy: caddy === undefined ? [] : [caddy], server: [...server], generator: [process.pid] }).start();
}

const cores = (cpu: CpuWindow): Pick<Run, 'serverCores' | 'caddyCores' | 'generatorCores'> => ({
  serverCores: (cpu.groups.caddy ?? 0) + (cpu.groups.server ?? 0),
  caddyCores: cpu.groups.caddy ?? 0,
  generatorCores: cpu.groups.generator ?? 0,
});

const STAGES = ['decode', 'apply', 'forward_encode', 'forward_decode'] as const;
type Stage = (typeof STAGES)[number];

/** FleetPulse's counters that a run reads before and after: samples stored, and CPU seconds per ingest stage (all workers). */
interface FpReading {
  stored: number;
  stageSeconds: Record<Stage, number>;
}

/** The workers' main threads' scheduler counters, summed (pids from the admin API). */
async function workersSched(c: RunningCluster): Promise<SchedTimes> {
  const info = await getJson<{ workers: Array<{ pid: number }> }>(`${c.adminUrl}/admin/cluster`);
  return info.workers.map((w) => mainThreadSched(w.pid)).reduce((a, s) => ({ runNs: a.runNs + s.runNs, waitNs: a.waitNs + s.waitNs }), { runNs: 0, waitNs: 0 });
}

async function fpReading(c: RunningCluster): Promise<FpReading> {
  const text = await scrapeMetrics(c.adminUrl);
  const stageSeconds = Object.fromEntries(STAGES.map((stage) => [stage, metricTotal(text, 'fleetpulse_ingest_stage_seconds_total', { stage })])) as Record<Stage, number>;
  return { stored: metricTotal(text, 'fleetpulse_ingest_samples_total', { result: 'accepted' }), stageSeconds };
}

export const peerScenario: Scenario = {
  name: 'peer',
  description: 'FleetPulse push batch 1000 (2 workers, memory; direct and via Caddy; 1 worker as a control) vs VictoriaMetrics JSON-line import and Influx line, same samples, same generator',
  timeLimitS: (c) => 180 + c.repeat * 7 * (c.durationS + 12),
  async run(ctx: BenchContext) {
    if (!hasBinary(VM_BINARY)) {
      // The one allowed skip: no peer binary, nothing to compare against.
      const msg = `${VM_BINARY} is not installed (apt-get install victoria-metrics); peer comparison skipped`;
      ctx.progress(msg);
      return { title: 'FleetPulse vs VictoriaMetrics (skipped)', params: { skipped: msg }, runs: [], summary: { skipped: msg }, tables: [], findings: [msg], charts: [] };
    }
    if (!hasBinary('caddy')) throw new Error('caddy is not installed (node scripts/ensure-system-deps.mjs)');
    const warmS = ctx.quick ? 0 : 2;
    const direct = await startCluster({ workers: WORKERS, balancer: 'cluster', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
    let caddy: RunningCluster | undefined;
    let single: RunningCluster | undefined;
    const runs: Run[] = [];
    try {
      caddy = await startCluster({ workers: WORKERS, balancer: 'caddy', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
      single = await startCluster({ workers: 1, balancer: 'cluster', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
      const fps: Record<'fleetpulse-direct' | 'fleetpulse-caddy' | 'fleetpulse-1worker', RunningCluster> = { 'fleetpulse-direct': direct, 'fleetpulse-caddy': caddy, 'fleetpulse-1worker': single };
      for (let rep = 0; rep < ctx.repeat; rep++) {
        const b = bodies();
        // FleetPulse first, then a fresh VictoriaMetrics (its background merges must not steal CPU from the FleetPulse runs).
        for (const target of ['fleetpulse-direct', 'fleetpulse-caddy', 'fleetpulse-1worker'] as const) {
          const fp = fps[target];
          const url = `${fp.url}/api/v1/ingest`;
          if (warmS > 0) await httpLoad({ url, connections: 16, durationS: warmS, bodies: b.fp, signal: ctx.signal });
          ctx.progress(`peer: run ${rep + 1}/${ctx.repeat} ${LABEL[target]}`);
          const before = await fpReading(fp);
          const sched0 = await workersSched(fp);
          const m = meter([fp.proc.child.pid!], caddyUnder(fp.proc.child.pid!));
          const r = await httpLoad({ url, connections: CONNECTIONS, durationS: ctx.durationS, bodies: b.fp, signal: ctx.signal });
          const cpu = m.stop();
          const sched1 = await workersSched(fp);
          const after = await fpReading(fp);
          const stored = after.stored - before.stored;
          const c = cores(cpu);
          // FleetPulse's own CPU (Caddy's share out) per stored sample, stage by stage.
          const perSample = (seconds: number): number => (stored > 0 ? (seconds * 1e9) / stored : Number.NaN);
          const stageClockNs = Object.fromEntries(STAGES.map((st) => [st, perSample(after.stageSeconds[st] - before.stageSeconds[st])])) as Record<Stage, number>;
          // The stage clock times sections by the wall clock, so a section the OS preempted also counts
          // the time other processes ran. Estimate: preemptions fall evenly on the main threads' runnable
          // time, so each stage's CPU is its clock time × the share of runnable time spent on a CPU.
          const runNs = sched1.runNs - sched0.runNs;
          const waitNs = sched1.waitNs - sched0.waitNs;
          const onCpuShare = runNs + waitNs > 0 ? runNs / (runNs + waitNs) : 1;
          const stageNs = Object.fromEntries(STAGES.map((st) => [st, stageClockNs[st] * onCpuShare])) as Record<Stage | 'other', number>;
          const ownNs = perSample(((c.serverCores - c.caddyCores) * cpu.wallMs) / 1000);
          stageNs.other = ownNs - STAGES.reduce((a, st) => a + stageNs[st], 0);
          runs.push({ target, rep, ...r, samplesPerSec: r.reqPerSec * BATCH, ...c, stored, stageNs, stageClockNs, onCpuShare, waitNs: perSample(waitNs / 1e9) });
        }
        // Controls: bare Node direct and behind a Caddy of its own (stopped before VictoriaMetrics starts).
        const bare = await startBarePush(WORKERS);
        try {
          const front = await startCaddyFront(new URL(bare.url).host);
          try {
            for (const [target, base, caddyPid] of [['bare-direct', bare.url, undefined], ['bare-caddy', front.url, front.pid]] as const) {
              const url = `${base}/api/v1/ingest`;
              if (warmS > 0) await httpLoad({ url, connections: 16, durationS: warmS, bodies: b.fp, signal: ctx.signal });
              ctx.progress(`peer: run ${rep + 1}/${ctx.repeat} ${LABEL[target]}`);
              const m = meter([bare.proc.child.pid!], caddyPid);
              const r = await httpLoad({ url, connections: CONNECTIONS, durationS: ctx.durationS, bodies: b.fp, signal: ctx.signal });
              const cpu = m.stop();
              // The baseline stores nothing: what it acknowledged is what it "stored".
              runs.push({ target, rep, ...r, samplesPerSec: r.reqPerSec * BATCH, ...cores(cpu), stored: (r.requests - r.non2xx) * BATCH });
            }
          } finally {
            await front.stop();
          }
        } finally {
          await bare.stop();
        }
        let vm: Victoria | undefined;
        try {
          vm = await startVictoria();
          for (const [target, path, pool] of [['vm-jsonline', '/api/v1/import', b.vmJson], ['vm-influx', '/write?precision=ms', b.influx]] as const) {
            const url = `${vm.url}${path}`;
            const headers = { 'content-type': 'text/plain' };
            if (warmS > 0) await httpLoad({ url, connections: 16, durationS: warmS, bodies: pool, headers, signal: ctx.signal });
            ctx.progress(`peer: run ${rep + 1}/${ctx.repeat} ${LABEL[target]}`);
            const key = target === 'vm-jsonline' ? 'vmimport' : 'influx';
            const before = (await vm.rowsInserted())[key] ?? 0;
            const m = meter([vm.pid], undefined);
            const r = await httpLoad({ url, connections: CONNECTIONS, durationS: ctx.durationS, bodies: pool, headers, signal: ctx.signal });
            const cpu = m.stop();
            const stored = ((await vm.rowsInserted())[key] ?? 0) - before;
            runs.push({ target, rep, ...r, samplesPerSec: r.reqPerSec * BATCH, ...cores(cpu), stored });
          }
        } finally {
          await vm?.stop();
        }
      }
    } finally {
      await single?.stop();
      await caddy?.stop();
      await direct.stop();
    }

    const targets: Target[] = ['fleetpulse-direct', 'fleetpulse-caddy', 'fleetpulse-1worker', 'vm-jsonline', 'vm-influx', 'bare-direct', 'bare-caddy'];
    const agg = new Map(targets.map((t) => {
      const rs = runs.filter((r) => r.target === t);
      const requested = rs.reduce((a, r) => a + r.requests * BATCH, 0);
      const stored = rs.reduce((a, r) => a + r.stored, 0);
      return [t, {
        sps: spread(rs.map((r) => r.samplesPerSec)) as Spread,
        p50: spread(rs.map((r) => r.latencyMs.p50)).median,
        p99: spread(rs.map((r) => r.latencyMs.p99)).median,
        errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
        cores: spread(rs.map((r) => r.serverCores)).median,
        caddy: spread(rs.map((r) => r.caddyCores)).median,
        generator: spread(rs.map((r) => r.generatorCores)).median,
        // Samples/s the run could reach if everything but Caddy and the generator cost nothing: all cores to them, at their CPU per sample.
        proxyCeiling: median(rs.filter((r) => r.caddyCores > 0).map((r) => (availableParallelism() * r.samplesPerSec) / (r.caddyCores + r.generatorCores))),
        // Samples the server counted as stored per sample acknowledged (≈1; in-flight requests at the end of a run can add a little).
        storedShare: requested > 0 ? stored / requested : Number.NaN,
      }] as const;
    }));
    const vmJson = agg.get('vm-jsonline')!;
    const fd = agg.get('fleetpulse-direct')!;
    const fc = agg.get('fleetpulse-caddy')!;
    const vmInflux = agg.get('vm-influx')!;
    const rDirect = ratio(fd.sps.median, vmJson.sps.median);
    const rCaddy = ratio(fc.sps.median, vmJson.sps.median);
    const rDirectInflux = ratio(fd.sps.median, vmInflux.sps.median);
    const perCore = (a: { sps: Spread; cores: number }): number => a.sps.median / Math.max(0.01, a.cores);
    const bareDirect = agg.get('bare-direct')!;
    const bareCaddy = agg.get('bare-caddy')!;
    const f1 = agg.get('fleetpulse-1worker')!;
    // Server CPU per sample of the 2-worker run over the 1-worker run's, less one: the share forwarding
    // adds. Repeat by repeat (both run within a minute of each other), then the median.
    const cpuPerSample = (t: Target, rep: number): number => {
      const r = runs.find((x) => x.target === t && x.rep === rep);
      return r === undefined || r.samplesPerSec <= 0 ? Number.NaN : r.serverCores / r.samplesPerSec;
    };
    const forwardingCosts = Array.from({ length: ctx.repeat }, (_, rep) => cpuPerSample('fleetpulse-direct', rep) / cpuPerSample('fleetpulse-1worker', rep) - 1);
    const forwardingCost = median(forwardingCosts);
    // Where FleetPulse's worker CPU goes, per stored sample and stage (medians of the repeats).
    const fpTargets = ['fleetpulse-direct', 'fleetpulse-caddy', 'fleetpulse-1worker'] as const;
    const stageParts = [...STAGES, 'other'] as const;
    // A FleetPulse target's median of one per-run figure (runs without it, e.g. other targets', left out).
    const medianOf = (t: (typeof fpTargets)[number], pick: (r: Run) => number | undefined): number => median(runs.filter((r) => r.target === t && pick(r) !== undefined).map((r) => pick(r)!));
    const stageNs = Object.fromEntries(fpTargets.map((t) => [t, Object.fromEntries(stageParts.map((st) => [st, medianOf(t, (r) => r.stageNs?.[st])]))])) as Record<(typeof fpTargets)[number], Record<Stage | 'other', number>>;
    const stageTotal = (t: (typeof fpTargets)[number]): number => stageParts.reduce((a, st) => a + stageNs[t][st], 0);
    const waitNs = Object.fromEntries(fpTargets.map((t) => [t, medianOf(t, (r) => r.waitNs)])) as Record<(typeof fpTargets)[number], number>;
    const onCpu = Object.fromEntries(fpTargets.map((t) => [t, medianOf(t, (r) => r.onCpuShare)])) as Record<(typeof fpTargets)[number], number>;
    const clockNs = Object.fromEntries(fpTargets.map((t) => [t, Object.fromEntries(STAGES.map((st) => [st, medianOf(t, (r) => r.stageClockNs?.[st])]))])) as Record<(typeof fpTargets)[number], Record<Stage, number>>;
    const summary: Record<string, unknown> = {
      controls: { bareDirectVsVmJsonline: ratio(bareDirect.sps.median, vmJson.sps.median), bareCaddyVsVmJsonline: ratio(bareCaddy.sps.median, vmJson.sps.median), caddyVsBareCaddy: ratio(fc.sps.median, bareCaddy.sps.median), directVsBareDirect: ratio(fd.sps.median, bareDirect.sps.median), oneWorkerVsVmJsonline: ratio(f1.sps.median, vmJson.sps.median) },
      forwardingCpuPerSample: forwardingCost, forwardingCpuPerSampleByRepeat: forwardingCosts,
      ratioDirectVsVmJsonline: rDirect, ratioCaddyVsVmJsonline: rCaddy, ratioDirectVsVmInflux: rDirectInflux, ratioCaddyVsVmInflux: ratio(fc.sps.median, vmInflux.sps.median),
      targets: { directVsVmJsonline: 1.5, caddyVsVmJsonline: 1.0 },
      meetsDirect: rDirect >= 1.5, meetsCaddy: rCaddy >= 1.0,
      workerCpuNsPerSampleByStage: stageNs,
      stageClockNsPerSample: clockNs,
      workerMainThreadOnCpuShare: onCpu,
      workerMainThreadWaitNsPerSample: waitNs,
    };
    // The same ratios repeat by repeat (each repeat runs every target once, minutes apart): how far this machine drifts.
    const perRepeat = (t: Target): number[] => Array.from({ length: ctx.repeat }, (_, rep) => {
      const of = (u: Target): number => runs.find((r) => r.target === u && r.rep === rep)?.samplesPerSec ?? Number.NaN;
      return ratio(of(t), of('vm-jsonline'));
    });
    const pairs = { directVsVmJsonline: perRepeat('fleetpulse-direct'), caddyVsVmJsonline: perRepeat('fleetpulse-caddy'), bareDirectVsVmJsonline: perRepeat('bare-direct') };
    summary.perRepeat = pairs;
    for (const [t, a] of agg) summary[t] = { samplesPerSec: a.sps, p50Ms: a.p50, p99Ms: a.p99, errors: a.errors, serverCores: a.cores, caddyCores: a.caddy, generatorCores: a.generator, samplesPerCoreSecond: perCore(a), storedShare: a.storedShare, ...(Number.isNaN(a.proxyCeiling) ? {} : { proxyCeilingSamplesPerSec: a.proxyCeiling }) };

    const rows = targets.map((t) => {
      const a = agg.get(t)!;
      return [LABEL[t], a.sps.median, `${Math.round(a.sps.min)}–${Math.round(a.sps.max)}`, a.p50, a.p99, a.errors, `${(a.storedShare * 100).toFixed(1)}%`, a.cores, a.caddy, a.generator, perCore(a), ratio(a.sps.median, vmJson.sps.median)];
    });
    const x = (v: number): string => `${v.toFixed(2)}×`;
    const findings = [
      `Same run, same samples, same generator: FleetPulse direct ingested ${Math.round(fd.sps.median).toLocaleString('en-US')} samples/s, ${x(rDirect)} VictoriaMetrics' JSON-line import (${Math.round(vmJson.sps.median).toLocaleString('en-US')}; target ≥ 1.5×: ${rDirect >= 1.5 ? 'met' : 'not met'}), and through Caddy ${Math.round(fc.sps.median).toLocaleString('en-US')}, ${x(rCaddy)} (target ≥ 1.0×: ${rCaddy >= 1.0 ? 'met' : 'not met'}). Against VM's Influx line endpoint (${Math.round(vmInflux.sps.median).toLocaleString('en-US')} samples/s) direct is ${x(rDirectInflux)}.`,
      `Repeat by repeat against VictoriaMetrics' JSON-line run of the same repeat: direct ${pairs.directVsVmJsonline.map(x).join(', ')}; via Caddy ${pairs.caddyVsVmJsonline.map(x).join(', ')}; bare Node direct ${pairs.bareDirectVsVmJsonline.map(x).join(', ')}. The targets of a repeat run minutes apart on a shared machine, so the spread of these pairs is the measure of its drift.`,
      `Per core of server CPU: FleetPulse direct ${Math.round(perCore(fd)).toLocaleString('en-US')} samples/s (${fd.cores.toFixed(2)} cores), VictoriaMetrics JSON-line ${Math.round(perCore(vmJson)).toLocaleString('en-US')} (${vmJson.cores.toFixed(2)} cores). The generator (autocannon, one thread) shares the same 2 cores, so the server that needs less CPU per sample leaves more for the generator — the per-core figure is the fairer one on this box.`,
      `Controls, same run: bare Node (read, JSON.parse, sum; ${WORKERS} workers) took ${Math.round(bareDirect.sps.median).toLocaleString('en-US')} samples/s direct (${x(ratio(bareDirect.sps.median, vmJson.sps.median))} VictoriaMetrics' JSON-line import) and ${Math.round(bareCaddy.sps.median).toLocaleString('en-US')} through a Caddy with FleetPulse's upstream transport and nothing else (${x(ratio(bareCaddy.sps.median, vmJson.sps.median))}; Caddy and the upstream together used ${bareCaddy.cores.toFixed(2)} cores). That is the ceiling of any JSON push server behind this Caddy on this machine: FleetPulse via Caddy reached ${x(ratio(fc.sps.median, bareCaddy.sps.median))} of it, and direct ${x(ratio(fd.sps.median, bareDirect.sps.median))} of bare Node direct.`,
      `FleetPulse with one worker owns every source and forwards nothing: ${Math.round(f1.sps.median).toLocaleString('en-US')} samples/s on ${f1.cores.toFixed(2)} server cores, ${Math.round(perCore(f1)).toLocaleString('en-US')} per core-second against the 2-worker run's ${Math.round(perCore(fd)).toLocaleString('en-US')}. With two workers about half of each batch belongs to the other worker and crosses to it (split, encode, socket, decode, the owner's ack), and the server spends ${(forwardingCost * 100).toFixed(0)}% more CPU per sample (median of the repeats; repeat by repeat ${forwardingCosts.map((c) => `${c >= 0 ? '+' : ''}${(c * 100).toFixed(0)}%`).join(', ')}): that is what forwarding costs here, and the most a cheaper forwarding path could win back per core.`,
      `Where the via-Caddy CPU goes: Caddy used ${fc.caddy.toFixed(2)} of FleetPulse's ${fc.cores.toFixed(2)} server cores (generator ${fc.generator.toFixed(2)}); in the bare control ${bareCaddy.caddy.toFixed(2)} of ${bareCaddy.cores.toFixed(2)} (generator ${bareCaddy.generator.toFixed(2)}). At the control's CPU per sample, Caddy and the generator alone — behind them an upstream that cost nothing — would fill this machine's ${availableParallelism()} cores at about ${Math.round(bareCaddy.proxyCeiling).toLocaleString('en-US')} samples/s, ${x(ratio(bareCaddy.proxyCeiling, vmJson.sps.median))} VictoriaMetrics' JSON-line import (at FleetPulse's own run's: ${Math.round(fc.proxyCeiling).toLocaleString('en-US')}, ${x(ratio(fc.proxyCeiling, vmJson.sps.median))}): ${ratio(bareCaddy.proxyCeiling, vmJson.sps.median) >= 1 ? 'the 1.0× target lies under that ceiling, so the upstream\'s own cost decides it' : 'the 1.0× target lies above that ceiling, out of reach for any upstream on this machine'}.`,
      `The work is not the same: FleetPulse's 202 comes after the samples are in its in-memory rings (queryable and on their way to the live view), ${fd.storedShare >= 0.99 ? 'and its own counter confirms every acknowledged sample was stored' : `and its counter shows ${(fd.storedShare * 100).toFixed(1)}% of acknowledged samples stored`}; VictoriaMetrics' 204 comes after parsing, with the rows buffered for its on-disk storage (${(vmJson.storedShare * 100).toFixed(1)}% of sent JSON-line samples counted as inserted). VM keeps every raw sample for its retention on disk; FleetPulse keeps 1 s and 1 min buckets in memory. Through Caddy FleetPulse pays a proxy hop on the same cores (${x(ratio(fc.sps.median, fd.sps.median))} of direct).`,
    ];
    const d1 = stageNs['fleetpulse-1worker'];
    const d2 = stageNs['fleetpulse-direct'];
    const ns = (v: number): string => `${v >= 0 ? '+' : ''}${Math.round(v)}`;
    const c1 = clockNs['fleetpulse-1worker'];
    const c2 = clockNs['fleetpulse-direct'];
    const pct = (v: number): string => `${Math.round(v * 100)}%`;
    findings.push(`Where the workers' CPU goes (medians of the repeats): one worker spends ${Math.round(stageTotal('fleetpulse-1worker'))} ns of CPU per sample — decode ${Math.round(d1.decode)}, apply ${Math.round(d1.apply)}, everything else (HTTP, event loop, GC, kernel) ${Math.round(d1.other)}; two workers ${Math.round(stageTotal('fleetpulse-direct'))} ns: forwarding's own stages ${Math.round(d2.forward_encode + d2.forward_decode)} (split and encode ${Math.round(d2.forward_encode)}, decode at the owner ${Math.round(d2.forward_decode)}), decode ${ns(d2.decode - d1.decode)}, apply ${ns(d2.apply - d1.apply)}, everything else ${ns(d2.other - d1.other)} against one worker. The stages come from fleetpulse_ingest_stage_seconds_total, which times each section by the wall clock: when the OS preempts a worker inside one, the time other processes ran counts too. Two workers and the generator on 2 cores wait for a core often — the workers' main threads were on a CPU ${pct(onCpu['fleetpulse-direct'])} of the time they were runnable (one worker: ${pct(onCpu['fleetpulse-1worker'])}; via Caddy: ${pct(onCpu['fleetpulse-caddy'])}), ${Math.round(waitNs['fleetpulse-direct'])} ns of waiting per sample — so the stage clock reads decode ${Math.round(c2.decode)} and apply ${Math.round(c2.apply)} with two workers (one: ${Math.round(c1.decode)} and ${Math.round(c1.apply)}); the stage figures above scale it by that on-CPU share (an estimate that spreads the waits evenly over the runnable time), and the total is the workers' measured CPU.`);
    const chart = 'peer-samples.svg';
    writeFileSync(join(ctx.outDir, chart), barChart(`Push batch ${BATCH}, samples/s at ${CONNECTIONS} connections (median, min–max)`, 'samples/s', targets.map((t) => {
      const a = agg.get(t)!;
      return { label: LABEL[t], value: a.sps.median, min: a.sps.min, max: a.sps.max };
    })));
    const headline = [
      `FleetPulse push (batch ${BATCH}, memory, ${WORKERS} workers) direct: ${x(rDirect)} VictoriaMetrics' JSON-line import samples/s (target ≥ 1.5×: ${rDirect >= 1.5 ? 'met' : 'NOT met'}; a bare Node server that only parses and sums: ${x(ratio(bareDirect.sps.median, vmJson.sps.median))}).`,
      `The same through Caddy: ${x(rCaddy)} (target ≥ 1.0×: ${rCaddy >= 1.0 ? 'met' : 'NOT met'}; the bare Node server behind the same Caddy: ${x(ratio(bareCaddy.sps.median, vmJson.sps.median))}; Caddy and the generator alone, before any upstream work, cap a run through Caddy here at about ${x(ratio(bareCaddy.proxyCeiling, vmJson.sps.median))}).`,
    ];
    return {
      title: 'FleetPulse vs VictoriaMetrics: push ingest, same samples, same machine',
      headline,
      params: { workers: WORKERS, batch: BATCH, connections: CONNECTIONS, sources: SOURCES, durationS: ctx.durationS, repeat: ctx.repeat, state: 'memory', generator: 'autocannon (HTTP/1.1 keep-alive)', victoriaMetricsFlags: '-retentionPeriod=1d -loggerLevel=ERROR' },
      runs: runs.map((r) => ({ ...r })),
      summary,
      tables: [{
        title: `Push, batch ${BATCH}, ${CONNECTIONS} connections (median of ${ctx.repeat})`,
        columns: ['target', 'samples/s', 'range', 'p50 ms', 'p99 ms', 'errors', 'stored / acknowledged', 'server CPU (cores)', 'of it Caddy', 'generator CPU', 'samples per server core-second', 'vs VM JSON-line'],
        rows,
      }, {
        title: `Where FleetPulse's worker CPU goes: ns of CPU per stored sample by ingest stage (median of ${ctx.repeat}; Caddy's CPU not included; stages = stage clock × the main threads' on-CPU share, total = measured)`,
        columns: ['target', 'decode', 'apply', 'forward: split + encode', 'forward: decode at owner', 'everything else', 'total', 'main threads on a CPU when runnable', 'waiting for a core, ns per sample'],
        rows: fpTargets.map((t) => [LABEL[t], stageNs[t].decode, stageNs[t].apply, stageNs[t].forward_encode, stageNs[t].forward_decode, stageNs[t].other, stageTotal(t), `${(onCpu[t] * 100).toFixed(0)}%`, waitNs[t]]),
      }],
      findings,
      charts: [chart],
    };
  },
};

/**
 * bench/soak: `npm run bench -- soak` (600 s unless --duration says otherwise; `all` runs it that
 * long too) — ten minutes of push ingest at half the capacity measured at the start of the same
 * run, on a 2-worker cluster (memory state, node:cluster shared port), 100-sample batches over
 * 10,000 sources (a fixed series set, so memory must level off once every ring is allocated).
 * Every interval (60 s; a sixth of the run when shorter) records the RSS of every process, the
 * p50/p99 latency of that interval (autocannon open-loop at a fixed rate, so latency is not hidden
 * by coordinated omission), throughput and errors.
 *
 * The baseline is the first interval of the same run: each later interval is reported as a ratio
 * to it. Flat means: RSS of the last interval within 15 % of the third, and no interval's p99
 * above 3x the median interval p99. The cluster keeps fine buckets for two intervals (2 minutes
 * instead of the default 10): at 11 samples/s per series every fine bucket holds several samples
 * and takes an overflow entry, so until the fine ring has lapped once memory grows by design; with
 * the default span a 10-minute soak would measure only that filling, never the drift after it.
 */
import autocannon from 'autocannon';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../node/testing/cluster.js';
import { getJson } from '../../node/testing/http.js';
import { httpLoad } from '../lib/load.js';
import { rssOf } from '../lib/servers.js';
import { median } from '../lib/stats.js';
import { barChart } from '../lib/svg.js';
import type { Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const BATCH = 100;
const SOURCES = 10_000;
const CONNECTIONS = 32;
const RSS_DRIFT_LIMIT = 0.15;
const P99_SPIKE_LIMIT = 3;

function bodies(): string[] {
  const out: string[] = [];
  for (let j = 0; j < SOURCES / BATCH; j++) {
    out.push(JSON.stringify(Array.from({ length: BATCH }, (_, k) => ({ source: `soak-${j * BATCH + k}`, metric: 'cpu', value: (j * 7 + k) % 100, unit: '%' }))));
  }
  return out;
}

interface Interval {
  minute: number;
  startS: number;
  seconds: number;
  requests: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
  rssMiB: number;
  workersRssMiB: number[];
  series: number;
}

/** One interval of open-loop load at `ratePerS` requests/s (autocannon's overallRate). */
function openLoop(url: string, payloads: readonly string[], ratePerS: number, seconds: number, signal: AbortSignal): Promise<autocannon.Result> {
  let i = 0;
  return new Promise((resolve, reject) => {
    const inst = autocannon({
      url: `${url}/api/v1/ingest`, connections: CONNECTIONS, duration: seconds, pipelining: 1, method: 'POST', overallRate: ratePerS,
      headers: { 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: payloads[i++ % payloads.length]! }) }],
    }, (err, r) => (err ? reject(err) : resolve(r)));
    signal.addEventListener('abort', () => inst.stop(), { once: true });
  });
}

export const soakScenario: Scenario = {
  name: 'soak',
  description: 'push at half the measured capacity for 600 s (or --duration): RSS and p99 per minute must stay flat',
  defaultDurationS: 600,
  timeLimitS: (c) => (c.quick ? 180 : c.durationS + 300),
  runsNote: (c) => `One run of ${c.quick ? 20 : c.durationS} s, measured per interval.`,
  async run(ctx) {
    const totalS = ctx.quick ? 20 : ctx.durationS;
    const intervalS = Math.max(5, Math.min(60, Math.floor(totalS / 6)));
    const intervals = Math.max(1, Math.floor(totalS / intervalS));
    const payloads = bodies();
    const fineSpanMs = 2 * intervalS * 1000;
    const fp = await startCluster({ workers: WORKERS, balancer: 'cluster', env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_CONFIG: JSON.stringify({ retention: { fineSpanMs } }) } });
    try {
      const info = (): Promise<{ workers: Array<{ pid: number; series: number }> }> => getJson(`${fp.adminUrl}/admin/cluster`);
      const primaryPid = fp.proc.child.pid!;

      // Capacity: closed loop, as fast as the cluster answers.
      ctx.progress('measuring capacity…');
      const capS = ctx.quick ? 3 : 15;
      const cap = await httpLoad({ url: `${fp.url}/api/v1/ingest`, connections: CONNECTIONS, durationS: capS, bodies: payloads, signal: ctx.signal });
      const rate = Math.max(1, Math.floor(cap.reqPerSec / 2));
      ctx.progress(`capacity ${Math.round(cap.reqPerSec * BATCH).toLocaleString('en-US')} samples/s; soaking at ${(rate * BATCH).toLocaleString('en-US')} samples/s`);

      const rows: Interval[] = [];
      const started = Date.now();
      for (let k = 0; k < intervals && !ctx.signal.aborted; k++) {
        const r = await openLoop(fp.url, payloads, rate, intervalS, ctx.signal);
        const w = (await info()).workers;
        const workersRss = await Promise.all(w.map((x) => rssOf([x.pid])));
        rows.push({
          minute: k + 1, startS: Math.round((Date.now() - started) / 1000) - intervalS, seconds: r.duration,
          requests: r.requests.total, samplesPerSec: Math.round((r.requests.total * BATCH) / r.duration),
          p50Ms: r.latency.p50, p99Ms: r.latency.p99, maxMs: r.latency.max, errors: r.errors + r.timeouts, non2xx: r.non2xx,
          rssMiB: Math.round(((await rssOf([primaryPid])) + workersRss.reduce((a, b) => a + b, 0)) / 2 ** 20),
          workersRssMiB: workersRss.map((b) => Math.round(b / 2 ** 20)), series: w.reduce((a, x) => a + x.series, 0),
        });
        const last = rows[rows.length - 1]!;
        ctx.progress(`interval ${k + 1}/${intervals}: ${last.samplesPerSec.toLocaleString('en-US')} samples/s, p99 ${last.p99Ms} ms, RSS ${last.rssMiB} MiB`);
      }
      if (rows.length === 0) throw new Error('soak aborted before the first interval');

      const base = rows[0]!;
      const steady = rows[Math.min(2, rows.length - 1)]!;
      const last = rows[rows.length - 1]!;
      const rssDrift = (last.rssMiB - steady.rssMiB) / steady.rssMiB;
      const p99Median = median(rows.map((r) => r.p99Ms));
      const p99Worst = Math.max(...rows.map((r) => r.p99Ms));
      const errors = rows.reduce((a, r) => a + r.errors + r.non2xx, 0);
      const flat = rssDrift <= RSS_DRIFT_LIMIT && p99Worst <= P99_SPIKE_LIMIT * Math.max(1, p99Median) && errors === 0;
      const chart = 'soak-rss.svg';
      writeFileSync(join(ctx.outDir, chart), barChart('RSS of all processes per interval', 'MiB', rows.map((r) => ({ label: `${r.minute}`, value: r.rssMiB }))));
      const unit = intervalS === 60 ? 'minute' : `${intervalS} s interval`;
      return {
        title: `Soak: push at half capacity for ${totalS} s`,
        params: { workers: WORKERS, batch: BATCH, sources: SOURCES, connections: CONNECTIONS, intervalS, totalS, capacityMeasureS: capS, fineSpanMs },
        runs: rows.map((r) => ({ ...r })),
        summary: {
          capacitySamplesPerSec: Math.round(cap.reqPerSec * BATCH), soakSamplesPerSec: rate * BATCH, intervals: rows.length,
          rssFirstMiB: base.rssMiB, rssSteadyMiB: steady.rssMiB, rssLastMiB: last.rssMiB, rssDrift, p99MedianMs: p99Median, p99WorstMs: p99Worst, errors, flat,
        },
        tables: [{
          title: `Per ${unit} (ratios against interval 1 of this run)`,
          columns: ['#', 'samples/s', 'p50 ms', 'p99 ms', 'p99 vs #1', 'max ms', 'errors + non-2xx', 'RSS MiB (all)', 'RSS vs #1', 'workers RSS MiB', 'series'],
          rows: rows.map((r) => [r.minute, r.samplesPerSec, r.p50Ms, r.p99Ms, `${(r.p99Ms / Math.max(0.001, base.p99Ms)).toFixed(2)}x`, r.maxMs, r.errors + r.non2xx, r.rssMiB, `${(r.rssMiB / base.rssMiB).toFixed(2)}x`, r.workersRssMiB.join(' / '), r.series]),
        }],
        findings: [
          `Capacity at the start: ${Math.round(cap.reqPerSec * BATCH).toLocaleString('en-US')} samples/s (closed loop, ${CONNECTIONS} connections, ${capS} s); the soak ran open-loop at half of it, ${(rate * BATCH).toLocaleString('en-US')} samples/s, with the load generator on the same machine.`,
          `RSS: ${base.rssMiB} MiB after interval 1, ${steady.rssMiB} MiB after interval ${Math.min(3, rows.length)} (the fine ring, ${fineSpanMs / 1000} s, has lapped once), ${last.rssMiB} MiB at the end (${(rssDrift * 100).toFixed(1)} % drift since; limit ${RSS_DRIFT_LIMIT * 100} %).`,
          `p99 latency: median ${p99Median} ms over the intervals, worst ${p99Worst} ms (limit ${P99_SPIKE_LIMIT}x the median); ${errors} errors or non-2xx answers.`,
          flat ? 'Verdict: flat — no leak and no latency drift at this length.' : 'Verdict: NOT flat — see the table for where RSS or p99 moved.',
        ],
        charts: [chart],
        headline: [`soak (${totalS} s at half capacity): ${flat ? 'flat' : 'NOT flat'} — RSS drift ${(rssDrift * 100).toFixed(1)} %, worst p99 ${p99Worst} ms vs median ${p99Median} ms`],
      };
    } finally {
      await fp.stop();
    }
  },
};

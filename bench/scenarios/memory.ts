/**
 * bench/memory: fill N live series at the full default retention (360 one-minute buckets over
 * 6 h, then 600 one-second buckets over the last 10 min, every bucket non-empty) through the real
 * HTTP ingest of a 2-worker cluster, then report RSS across all processes and bytes per series.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster } from '../../node/testing/cluster.js';
import { getJson, request } from '../../node/testing/http.js';
import { rssOf } from '../lib/servers.js';
import { barChart } from '../lib/svg.js';
import { SplitRecords } from '../../node/state/records.js';
import type { Scenario } from '../lib/scenario.js';

const WORKERS = 2;
const METRICS = 10;
const PER_REQUEST = 100; // wide objects per request → 1,000 samples
const CONCURRENCY = 16;
const BUDGET_BYTES = 2 * 2 ** 30;

interface ClusterInfo { workers: Array<{ pid: number; series: number; seriesBytes: number }> }

export const memoryScenario: Scenario = {
  name: 'memory',
  description: 'RSS and bytes per series with N series filled at the default retention (100,000; 500 with --quick)',
  timeLimitS: (c) => (c.quick ? 240 : 900),
  async run(ctx) {
    const sources = ctx.quick ? 50 : 10_000;
    const series = sources * METRICS;
    const fp = await startCluster({ workers: WORKERS, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
    try {
      const primaryPid = fp.proc.child.pid!;
      const pids = async (): Promise<number[]> => [primaryPid, ...(await getJson<ClusterInfo>(`${fp.adminUrl}/admin/cluster`)).workers.map((w) => w.pid)];
      const rssBefore = await rssOf(await pids());

      // Timestamps: one per coarse bucket beyond the fine span, then one per fine bucket.
      const now = Date.now();
      const stamps: number[] = [];
      const fineStart = Math.floor(now / 1000) * 1000 - 599_000;
      for (let t = Math.floor((now - 6 * 3600_000) / 60_000) * 60_000 + 60_000 + 30_000; t < fineStart; t += 60_000) stamps.push(t);
      for (let t = fineStart; t <= now; t += 1000) stamps.push(t);

      const jobs: Array<[number, number]> = []; // [stamp index, first source]
      for (let s = 0; s < stamps.length; s++) for (let src = 0; src < sources; src += PER_REQUEST) jobs.push([s, src]);
      let next = 0;
      let done = 0;
      let failed = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
          while (next < jobs.length && !ctx.signal.aborted) {
            const [s, first] = jobs[next++]!;
            const ts = stamps[s]!;
            const body: unknown[] = [];
            for (let src = first; src < Math.min(first + PER_REQUEST, sources); src++) {
              const metrics: Record<string, number> = {};
              for (let m = 0; m < METRICS; m++) metrics[`m${m}`] = (src * 31 + m * 7 + s) % 1000;
              body.push({ source: `mem-${src}`, ts, metrics });
            }
            const res = await request(`${fp.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), agent });
            if (res.status !== 202) failed++;
            if (++done % 500 === 0) ctx.progress(`memory: ${done}/${jobs.length} requests (${Math.round((done * PER_REQUEST * METRICS) / ((Date.now() - started) / 1000)).toLocaleString('en-US')} samples/s)`);
          }
          agent.destroy();
        }),
      );
      const fillS = (Date.now() - started) / 1000;
      const info = await getJson<ClusterInfo>(`${fp.adminUrl}/admin/cluster`);
      const storedSeries = info.workers.reduce((a, w) => a + w.series, 0);
      const storeBytes = info.workers.reduce((a, w) => a + w.seriesBytes, 0);
      const rssAfter = await rssOf(await pids());
      const perSeriesRss = (rssAfter - rssBefore) / storedSeries;
      const projected100k = rssBefore + perSeriesRss * 100_000;
      const samples = jobs.length * PER_REQUEST * METRICS;
      const run = { sources, series, storedSeries, samples, failed, fillS, rssBefore, rssAfter, storeBytes, perSeriesRss, storeBytesPerSeries: storeBytes / storedSeries, projected100k };
      const chart = 'memory-rss.svg';
      writeFileSync(join(ctx.outDir, chart), barChart('RSS across primary + workers', 'MiB', [
        { label: 'idle cluster', value: rssBefore / 2 ** 20 },
        { label: `${storedSeries.toLocaleString('en-US')} series filled`, value: rssAfter / 2 ** 20 },
        { label: '100,000 series (projected)', value: projected100k / 2 ** 20 },
        { label: 'budget (2 GiB)', value: BUDGET_BYTES / 2 ** 20 },
      ]));
      return {
        title: 'Memory per series at the default retention',
        params: { workers: WORKERS, sources, metricsPerSource: METRICS, bucketsPerSeries: stamps.length, retention: '1 s × 10 min + 1 min × 6 h' },
        runs: [run],
        summary: { rssBytes: rssAfter, rssPerSeriesBytes: perSeriesRss, storeBytesPerSeries: storeBytes / storedSeries, projected100kBytes: projected100k, withinBudget: projected100k <= BUDGET_BYTES },
        tables: [{
          title: 'Filled series and memory',
          columns: ['series', 'samples written', 'failed requests', 'fill s', 'RSS idle MiB', 'RSS filled MiB', 'RSS bytes/series', 'bucket storage bytes/series', '100k series projected MiB'],
          rows: [[storedSeries, samples, failed, fillS, rssBefore / 2 ** 20, rssAfter / 2 ** 20, perSeriesRss, storeBytes / storedSeries, projected100k / 2 ** 20]],
        }],
        findings: [
          `Every one of the ${stamps.length} buckets per series holds a sample, so this is the steady state of a full retention, not an empty ring. RSS grows by ${Math.round(perSeriesRss).toLocaleString('en-US')} bytes per series (bucket storage alone: ${Math.round(storeBytes / storedSeries).toLocaleString('en-US')}); 100,000 series project to ${(projected100k / 2 ** 30).toFixed(2)} GiB across all processes against a 2 GiB budget.`,
          `Fine buckets with a single sample take 10 bytes (a 16-bit offset tag + the value); only buckets with several samples spill into a shared overflow pool, and coarse buckets keep count/sum/min/max/last and the last offset in ${SplitRecords.BYTES} bytes.`,
        ],
        charts: [chart],
      };
    } finally {
      await fp.stop();
    }
  },
};

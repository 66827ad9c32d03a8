/**
 * A real Prometheus (Debian's `prometheus`) for tests and benches: temp config and storage, a free
 * loopback port, readiness via GET /-/ready, instant queries over the HTTP API, stop by PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { spawnProcess, type Spawned } from './process.js';
import { requireBinary } from './binaries.js';
import { request } from './http.js';

export interface PrometheusOptions {
  /** `host:port` targets of one job (our admin port). */
  targets: string[];
  /** @default 'fleetpulse' */
  job?: string;
  /** Scrape (and timeout) interval, whole seconds. @default 1 */
  scrapeIntervalS?: number;
  metricsPath?: string;
  readyTimeoutMs?: number;
}

export interface PromVector {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  proc: Spawned;
  url: string;
  /** Instant query; throws on a non-success answer. */
  query(expr: string): Promise<PromVector[]>;
  /** Poll `query(expr)` until `ok` holds (bounded); returns the last answer. */
  waitFor(expr: string, ok: (v: PromVector[]) => boolean, timeoutMs: number, what: string): Promise<PromVector[]>;
  stop(): Promise<void>;
}

function config(o: PrometheusOptions): string {
  const s = o.scrapeIntervalS ?? 1;
  return [
    'global:',
    `  scrape_interval: ${s}s`,
    `  scrape_timeout: ${s}s`,
    `  evaluation_interval: ${s}s`,
    'scrape_configs:',
    `  - job_name: ${o.job ?? 'fleetpulse'}`,
    `    metrics_path: ${o.metricsPath ?? '/metrics'}`,
    '    static_configs:',
    `      - targets: [${o.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
}

async function startOnce(o: PrometheusOptions, dir: string): Promise<RunningPrometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawnProcess(requireBinary('prometheus'), [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  let exited = false;
  void proc.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`prometheus exited before it was ready:\n${proc.output().slice(-3000)}`);
    const r = await request(`${url}/-/ready`, { timeoutMs: 2000 }).catch(() => undefined);
    if (r?.status === 200) break;
    if (Date.now() > deadline) {
      await proc.stop(2000);
      throw new Error(`prometheus not ready within ${o.readyTimeoutMs ?? 30_000} ms:\n${proc.output().slice(-3000)}`);
    }
    await new Promise((r2) => setTimeout(r2, 100));
  }

  const query = async (expr: string): Promise<PromVector[]> => {
    const r = await request(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, { timeoutMs: 10_000 });
    const body = r.json<{ status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } }>();
    if (r.status !== 200 || body.status !== 'success' || body.data === undefined) throw new Error(`query ${expr} failed (${r.status}): ${r.body.slice(0, 500)}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expr}: expected a vector, got ${body.data.resultType}`);
    return body.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
  };

  return {
    proc,
    url,
    query,
    async waitFor(expr, ok, timeoutMs, what) {
      const until = Date.now() + timeoutMs;
      let last: PromVector[] = [];
      for (;;) {
        last = await query(expr);
        if (ok(last)) return last;
        if (Date.now() > until) throw new Error(`${what}: not reached within ${timeoutMs} ms; last answer to ${expr}: ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop() {
      await proc.stop(5000);
    },
  };
}

export async function startPrometheus(o: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-prom-'));
  writeFileSync(join(dir, 'prometheus.yml'), config(o));
  // The free port can be taken before Prometheus binds it: retry a couple of times.
  for (let attempt = 0; ; attempt++) {
    try {
      const p = await startOnce(o, dir);
      const stop = p.stop;
      p.stop = async () => {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      };
      return p;
    } catch (err) {
      if (attempt < 2 && /address already in use/.test((err as Error).message)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

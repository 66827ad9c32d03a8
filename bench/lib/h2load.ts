/**
 * HTTP/2 load with h2load (package nghttp2-client; NOTES.md §7). `http://` URLs speak h2c with
 * prior knowledge, `https://` negotiates h2 by ALPN (h2load does not verify the certificate, so
 * Caddy's internal CA needs no trust setup), `--h1` forces HTTP/1.1 with the same generator.
 * h2load prints only min/max/mean/sd latency, so percentiles come from its `--log-file`
 * (one line per request: start µs, status, µs to the end of the response).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnProcess } from '../../node/testing/process.js';
import type { HttpLoadResult } from './load.js';
import { percentile } from './stats.js';

export interface H2LoadOptions {
  url: string;
  connections: number;
  /** Concurrent streams per connection (-m); with --h1 this would be pipelining, so keep it 1 there. */
  streams: number;
  durationS: number;
  /** Request body (h2load sends the same body with every request). */
  body: string;
  headers?: Record<string, string>;
  /** HTTP/1.1 through h2load (the same generator as the h2 runs). */
  h1?: boolean;
  signal?: AbortSignal;
}

export interface H2LoadResult extends HttpLoadResult {
  /** The protocol h2load reports it negotiated ("h2", "h2c", "http/1.1"). */
  protocol: string;
}

export async function h2load(o: H2LoadOptions): Promise<H2LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-h2load-'));
  try {
    const bodyFile = join(dir, 'body.json');
    const logFile = join(dir, 'requests.log');
    writeFileSync(bodyFile, o.body);
    const args = ['-c', String(o.connections), '-m', String(o.streams), '-t', '1', '-D', String(o.durationS), '-d', bodyFile, '--log-file', logFile];
    for (const [k, v] of Object.entries({ 'content-type': 'application/json', ...o.headers })) args.push('-H', `${k}: ${v}`);
    if (o.h1 === true) args.push('--h1');
    args.push(o.url);
    const p = spawnProcess('h2load', args);
    const onAbort = (): void => void p.stop(1000);
    o.signal?.addEventListener('abort', onAbort);
    // Bounded: h2load stops itself after -D; the timer is the backstop for a stuck connection.
    const backstop = setTimeout(() => void p.stop(1000), (o.durationS + 30) * 1000);
    const code = await p.exited;
    clearTimeout(backstop);
    o.signal?.removeEventListener('abort', onAbort);
    const out = p.output();
    const finished = /finished in ([\d.]+)(m?s)/.exec(out);
    const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    if (finished === null || reqs === null || status === null) throw new Error(`h2load exited ${code} without a summary:\n${out.slice(-2000)}`);
    const durationS = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
    const done = Number(reqs[3]);
    const latUs: number[] = [];
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const f = line.split('\t');
      if (f.length >= 3) latUs.push(Number(f[2]));
    }
    const ms = (p: number): number => percentile(latUs, p) / 1000;
    return {
      protocol: /Application protocol: (\S+)/.exec(out)?.[1] ?? 'unknown',
      requests: done,
      reqPerSec: done / durationS,
      latencyMs: { p50: ms(50), p90: ms(90), p99: ms(99), max: ms(100) },
      // h2load: "errored" (stream/connection failures, timeouts included) is the subset of "failed" that is not an HTTP status.
      errors: Number(reqs[6]),
      non2xx: Number(status[2]) + Number(status[3]) + Number(status[4]),
      durationS,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

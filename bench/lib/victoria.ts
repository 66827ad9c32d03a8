/**
 * VictoriaMetrics single-node (Debian package `victoria-metrics`) as the bench's peer: started on a
 * free loopback port with its storage in a temp dir, stopped by PID, the dir removed. Plus the
 * conversions of FleetPulse sample bodies into VM's two push formats, so both receive the same
 * samples: JSON-line import (/api/v1/import) and Influx line protocol (/write?precision=ms).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasBinary } from '../../node/testing/binaries.js';
import { freePort } from '../../node/testing/ports.js';
import { spawnProcess, type Spawned } from '../../node/testing/process.js';

export const VM_BINARY = 'victoria-metrics';

export interface Victoria {
  url: string;
  pid: number;
  proc: Spawned;
  /** Rows VM counted as inserted, by protocol (`vmimport`, `influx`), from its /metrics. */
  rowsInserted(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * VM's version: `-version` prints nothing in Debian's build, so ask dpkg for the package version
 * when it does not answer. Null when the binary is missing.
 */
export function victoriaVersion(): string | null {
  if (!hasBinary(VM_BINARY)) return null;
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    } catch {
      return '';
    }
  };
  return /v\d+\.\d+\.\d+/.exec(run(VM_BINARY, ['-version']))?.[0] ?? (run('dpkg-query', ['-W', '-f=${Version}', VM_BINARY]) || 'unknown');
}

export async function startVictoria(): Promise<Victoria> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpulse-vm-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawnProcess(VM_BINARY, [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR', '-retentionPeriod=1d']);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitHealthy(url, proc, 20_000);
    } catch (err) {
      await proc.stop(2000);
      if (attempt < 2 && /address already in use/.test(proc.output())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      url,
      pid: proc.child.pid!,
      proc,
      rowsInserted: async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        const out: Record<string, number> = {};
        for (const m of text.matchAll(/^vm_rows_inserted_total\{type="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
        return out;
      },
      stop: async () => {
        await proc.stop(5000);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

async function waitHealthy(url: string, proc: Spawned, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`victoria-metrics exited (${proc.child.exitCode}):\n${proc.output().slice(-2000)}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`victoria-metrics not healthy on ${url} within ${timeoutMs} ms:\n${proc.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One sample as the bench generates it (FleetPulse's own JSON form). */
export interface BenchSample {
  source: string;
  metric: string;
  value: number;
  unit: string;
  ts: number;
}

/** VM JSON-line import: one line per sample (its series, one value, one timestamp); the unit as a label. */
export function toVmJsonLines(samples: readonly BenchSample[]): string {
  return samples.map((s) => `{"metric":{"__name__":${JSON.stringify(s.metric)},"source":${JSON.stringify(s.source)},"unit":${JSON.stringify(s.unit)}},"values":[${s.value}],"timestamps":[${s.ts}]}`).join('\n') + '\n';
}

const influxEscape = (s: string): string => s.replace(/[ ,=\\]/g, (c) => `\\${c}`);

/** Influx line protocol (ms precision): `metric,source=…,unit=… value=… ts`. VM names it `<metric>_value`. */
export function toInfluxLines(samples: readonly BenchSample[]): string {
  return samples.map((s) => `${influxEscape(s.metric)},source=${influxEscape(s.source)},unit=${influxEscape(s.unit)} value=${s.value} ${s.ts}`).join('\n') + '\n';
}

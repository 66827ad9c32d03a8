/** Start the systems under test for benches (through node/testing, like the tests). */
import { fileURLToPath } from 'node:url';
import { spawnProcess, type Spawned } from '../../node/testing/process.js';

/** The bare-Node push baseline with `workers` cluster workers; resolves with its URL. */
export function startBarePush(workers: number): Promise<Baseline> {
  return startBaseline('bare-push', workers, 'bare-node baseline');
}

/** The raw-`ws` stream baseline (JSON.parse + cumulative acks) with `workers` cluster workers. */
export function startBareStream(workers: number): Promise<Baseline> {
  return startBaseline('bare-stream', workers, 'raw ws baseline');
}

export interface Baseline {
  url: string;
  proc: Spawned;
  stop: () => Promise<number | null>;
}

/** Run bench/baselines/<name>.js and wait for its "listening <port>" line. */
async function startBaseline(name: string, workers: number, what: string): Promise<Baseline> {
  const script = fileURLToPath(new URL(`../baselines/${name}.js`, import.meta.url));
  const proc = spawnProcess(process.execPath, [script, String(workers)]);
  const line = await proc.waitForLine(/^listening \d+/, 15_000, what);
  const port = Number(line.split(' ')[1]);
  return { url: `http://127.0.0.1:${port}`, proc, stop: () => proc.stop(2000) };
}

/** Sum of RSS (bytes) of the given pids, from /proc. */
export async function rssOf(pids: readonly number[]): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  let total = 0;
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? '0');
      total += kb * 1024;
    } catch {
      // process gone
    }
  }
  return total;
}

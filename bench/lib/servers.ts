/** Start the systems under test for benches (through node/testing, like the tests). */
import { fileURLToPath } from 'node:url';
import { spawnProcess, type Spawned } from '../../node/testing/process.js';

/** The bare-Node push baseline with `workers` cluster workers; resolves with its URL. */
export async function startBarePush(workers: number): Promise<{ url: string; proc: Spawned; stop: () => Promise<number | null> }> {
  const script = fileURLToPath(new URL('../baselines/bare-push.js', import.meta.url));
  const proc = spawnProcess(process.execPath, [script, String(workers)]);
  const line = await proc.waitForLine(/^listening \d+/, 15_000, 'bare-node baseline');
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

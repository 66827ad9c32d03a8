/**
 * A private redis-server on a free port (never the machine's own on 6379): no persistence,
 * ready when it answers PING. Retries the port on a bind race.
 */
import { spawnProcess, type Spawned } from './process.js';
import { freePort } from './ports.js';
import { requireBinary } from './binaries.js';

export interface RunningRedis {
  port: number;
  url: string;
  proc: Spawned;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Listen on this port (e.g. to restart a stopped server where its clients expect it). */
  port?: number;
}

export async function startRedis(extraArgs: string[] = [], opts: StartRedisOptions = {}): Promise<RunningRedis> {
  const bin = requireBinary('redis-server');
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const proc = spawnProcess(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extraArgs]);
    try {
      await proc.waitForLine(/Ready to accept connections/, 10_000, `redis-server on ${port}`);
      return { port, url: `redis://127.0.0.1:${port}`, proc, stop: async () => void (await proc.stop(3000)) };
    } catch (err) {
      await proc.stop(500);
      if (attempt < 3 && /Address already in use/.test(proc.output())) {
        // A fixed port may still be held by the process being replaced: wait a moment.
        if (opts.port !== undefined) await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      throw err;
    }
  }
}

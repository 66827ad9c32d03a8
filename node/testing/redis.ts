/**
 * A private redis-server on a free port (never the machine's own on 6379): no persistence,
 * ready when it answers PING. Retries the port on a bind race.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnProcess, type Spawned } from './process.js';
import { freePort } from './ports.js';
import { requireBinary } from './binaries.js';

const execFileP = promisify(execFile);

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

/** A private redis-server when `state` is 'redis' (stopped after the test), else nothing: its URL or undefined. */
export async function redisFor(t: { after(fn: () => unknown): void }, state: 'memory' | 'redis'): Promise<string | undefined> {
  if (state !== 'redis') return undefined;
  const redis = await startRedis();
  t.after(() => redis.stop());
  return redis.url;
}

export interface RunningRedisCluster {
  nodes: RunningRedis[];
  /** Seed-list URL of every master: `redis://127.0.0.1:p1,127.0.0.1:p2,…`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A private Redis Cluster of `masters` masters (no replicas): `redis-server --cluster-enabled yes`
 * per node (bus port chosen free, not port+10000 which may not exist), then
 * `redis-cli --cluster create … --cluster-yes`, ready when every node reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3): Promise<RunningRedisCluster> {
  const cli = requireBinary('redis-cli');
  const dir = mkdtempSync(join(tmpdir(), 'fp-redis-cluster-'));
  const nodes: RunningRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const bus = await freePort();
      nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--cluster-port', String(bus), '--cluster-node-timeout', '5000', '--dir', dir]));
    }
    await execFileP(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    const deadline = Date.now() + 30_000;
    for (const n of nodes) {
      for (;;) {
        const { stdout } = await execFileP(cli, ['-p', String(n.port), 'cluster', 'info'], { timeout: 5000 });
        if (/cluster_state:ok/.test(stdout)) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${n.port} not ok within 30 s:\n${stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, url: `redis://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, stop };
}

/** The machine record every bench result carries (STYLE.md §8): compare only runs of one machine. */
import os from 'node:os';
import { execFileSync } from 'node:child_process';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  caddy: string | null;
  redis: string | null;
  gitCommit: string | null;
  date: string;
  /** The load generator runs on the same machine as the servers. */
  loadGeneratorOnSameHost: true;
}

function tryRun(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

export function machine(): Machine {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    caddy: tryRun('caddy', ['version'])?.split(' ')[0] ?? null,
    redis: tryRun('redis-server', ['--version'])?.match(/v=(\S+)/)?.[1] ?? null,
    gitCommit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    date: new Date().toISOString(),
    loadGeneratorOnSameHost: true,
  };
}

/** The machine record every bench result carries (STYLE.md §8): compare only runs of one machine. */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { victoriaVersion } from './victoria.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  caddy: string | null;
  redis: string | null;
  /** Load tools and the peer, when installed. */
  h2load: string | null;
  victoriaMetrics: string | null;
  /** 1-minute load average when the run started: a busy machine (other work) shows here. */
  loadAverage1m: number;
  gitCommit: string | null;
  /** Tracked files differed from that commit when the run started (results may not match it exactly). */
  gitDirty: boolean;
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
    h2load: tryRun('h2load', ['--version'])?.match(/nghttp2\/(\S+)/)?.[1] ?? null,
    victoriaMetrics: victoriaVersion(),
    loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
    gitCommit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    gitDirty: (tryRun('git', ['status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
    date: new Date().toISOString(),
    loadGeneratorOnSameHost: true,
  };
}

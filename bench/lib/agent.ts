/**
 * The simulated fleet as a bench load generator: `fleetpulse agent` in a child process (so its
 * CPU is measured apart from the bench process), ending with its JSON summary line.
 */
import { CLI } from '../../node/testing/cluster.js';
import { spawnProcess } from '../../node/testing/process.js';
import type { AgentSummary } from '../../node/agent/agent.js';

export interface AgentRun {
  pid: number;
  /** Resolves with the summary once the agent has run `durationS` after `warmupS`. */
  done: Promise<AgentSummary>;
  stop(): Promise<void>;
  /** End the agent's warm-up now (SIGUSR2): its summary counts from here. */
  endWarmup(): void;
}

export interface AgentArgs {
  transport: 'stream' | 'push';
  sources: number;
  metrics: number;
  /** Ticks/s per host; 0 = closed loop. */
  rate: number;
  /** Samples per message/request. */
  batch: number;
  prefix: string;
}

export function agentArgs(a: AgentArgs): string[] {
  return ['--transport', a.transport, '--sources', String(a.sources), '--metrics', String(a.metrics), '--rate', String(a.rate), '--batch', String(a.batch), '--prefix', a.prefix];
}

/** Start the agent against `url`; its summary covers `durationS` after `warmupS` seconds. */
export function startAgent(url: string, args: AgentArgs, durationS: number, warmupS: number, signal: AbortSignal): AgentRun {
  const p = spawnProcess(process.execPath, [CLI, 'agent', '--url', url, '--quiet', '--duration', String(durationS + warmupS), '--warmup', String(warmupS), ...agentArgs(args)]);
  const onAbort = (): void => void p.stop(1000);
  signal.addEventListener('abort', onAbort);
  const done = p.exited.then((code) => {
    signal.removeEventListener('abort', onAbort);
    const line = p.output().split('\n').find((l) => l.startsWith('{"transport"'));
    if (line === undefined) throw new Error(`agent exited ${code} without a summary:\n${p.output().slice(-2000)}`);
    return JSON.parse(line) as AgentSummary;
  });
  done.catch(() => {}); // the caller awaits it; never an unhandled rejection when it stops early
  // Stop = SIGTERM: the agent drains its unacknowledged samples (up to 10 s) and prints its summary.
  return { pid: p.child.pid!, done, stop: async () => void (await p.stop(15_000)), endWarmup: () => void p.child.kill('SIGUSR2') };
}

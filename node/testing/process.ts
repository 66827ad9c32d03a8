/**
 * Spawning real processes for tests and benches: capture output, wait for a line that proves
 * readiness (bounded, with the output so far in the error), and stop by PID with a SIGKILL backstop.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Spawned {
  child: ChildProcess;
  /** Everything printed so far (stdout + stderr), for assertions and failure messages. */
  output(): string;
  /** Wait for a line matching `re` (checks past output too). */
  waitForLine(re: RegExp, timeoutMs: number, what: string): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed). */
  stop(graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Children still running; killed if this process exits without stopping them (a failed test or bench). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
// Killed by a signal (a runner or CI timing out, ^C), 'exit' never fires: end the children first
// — SIGTERM, so a cluster's primary still stops its Caddy and workers; SIGKILL after a bound — then
// let the signal do what it would have done.
const SIGNAL_GRACE_MS = 3000;
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(sig, () => {
    const running = [...live];
    for (const c of running) c.kill('SIGTERM');
    const exited = Promise.all(running.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    const grace = new Promise((r) => setTimeout(r, SIGNAL_GRACE_MS));
    void Promise.race([exited, grace]).then(() => {
      for (const c of live) c.kill('SIGKILL');
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  });
}

export function spawnProcess(cmd: string, args: string[], opts: SpawnOptions = {}): Spawned {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    out += d.toString('utf8');
    if (out.length > 4_000_000) out = out.slice(-2_000_000); // bounded
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
    for (const l of listeners) l();
  });

  return {
    child,
    exited,
    output: () => out,
    waitForLine(re, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const line = out.split('\n').find((l) => re.test(l));
          if (line !== undefined) return done(undefined, line);
          if (exitCode !== undefined) done(new Error(`${what}: process exited (code ${exitCode}) before it was ready. Output:\n${out.slice(-4000)}`));
        };
        const timer = setTimeout(() => done(new Error(`${what}: not ready within ${timeoutMs} ms. Output:\n${out.slice(-4000)}`)), timeoutMs);
        function done(err: Error | undefined, line?: string): void {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve(line!);
        }
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 6000) {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/**
 * Freeze a process with SIGSTOP (a hung peer: alive, holding its sockets, answering nothing) and
 * return resume(), which sends SIGCONT; safe to call twice or after the process exited. Register
 * resume with t.after() too: a stopped process cannot shut down gracefully.
 */
export function freezeProcess(pid: number): () => void {
  process.kill(pid, 'SIGSTOP');
  return () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  };
}

/**
 * A test or bench process killed by a signal takes the processes it spawned with it (no orphaned
 * clusters or redis-servers after a CI timeout or ^C).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { until } from './until.js';

const HELPER = fileURLToPath(new URL('./process.js', import.meta.url));

/** Running (a killed child whose parent is gone may linger as a zombie until init reaps it). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} to a process that spawned children ends the children too`, async (t) => {
    // A parent that spawns a long sleeper through spawnProcess and prints its pid.
    const code = `import { spawnProcess } from ${JSON.stringify(HELPER)};
      const s = spawnProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
      console.log(s.child.pid); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => parent.kill('SIGKILL'));
    const childPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      parent.once('exit', () => reject(new Error('parent exited before printing its child pid')));
    });
    t.after(() => {
      if (alive(childPid)) process.kill(childPid, 'SIGKILL');
    });
    assert.ok(alive(childPid));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => parent.once('exit', (_c, s) => resolve(s)));
    parent.kill(sig);
    assert.equal(await exited, sig, 'the parent still dies of the signal');
    await until('the child is gone', 5000, () => !alive(childPid));
  });
}

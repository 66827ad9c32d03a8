/**
 * `fleetpulse agent` as users run it (the compiled CLI, a child process) against a real cluster,
 * over both transports, and `start --demo` feeding the dashboard's data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, CLI } from '../testing/cluster.js';
import { spawnProcess } from '../testing/process.js';
import type { AgentSummary } from '../agent/agent.js';
import { skipUnless } from '../testing/binaries.js';
import { promTotal } from '../testing/prom.js';
import { until } from '../testing/until.js';

async function runAgent(args: string[]): Promise<{ code: number | null; summary: AgentSummary | undefined; output: string }> {
  const p = spawnProcess(process.execPath, [CLI, 'agent', ...args]);
  const code = await Promise.race([p.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`agent did not exit in time:\n${p.output()}`)), 60_000))]);
  const line = p.output().split('\n').find((l) => l.startsWith('{"transport"'));
  return { code, summary: line === undefined ? undefined : (JSON.parse(line) as AgentSummary), output: p.output() };
}

async function sourcesWith(url: string, prefix: string): Promise<number> {
  const s = (await (await fetch(`${url}/api/v1/sources`)).json()) as Array<{ source: string }>;
  return s.filter((x) => x.source.startsWith(prefix)).length;
}

test('fleetpulse agent streams and pushes a simulated fleet, printing progress and a summary', { timeout: 120_000 }, async (t) => {
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());

  const stream = await runAgent(['--url', c.url, '--sources', '40', '--metrics', '10', '--rate', '5', '--transport', 'stream', '--duration', '3', '--prefix', 'st-']);
  assert.equal(stream.code, 0, stream.output);
  assert.ok(stream.summary !== undefined, stream.output);
  assert.equal(stream.summary.errors, 0);
  assert.equal(stream.summary.unackedAtExit, 0);
  assert.ok(stream.summary.ackedSamples >= 40 * 10 * 5, `acked ${stream.summary.ackedSamples}`);
  assert.equal(stream.summary.ackedSamples, stream.summary.sentSamples);
  assert.match(stream.output, /samples\/s \| sent [\d,]+ acked [\d,]+ \| ack p50 .* \| conns \d+\/40 \| errors 0 reconnects 0 dropped 0/);
  assert.equal(await sourcesWith(c.url, 'st-'), 40);

  const push = await runAgent(['--url', c.url, '--sources', '20', '--metrics', '4', '--rate', '5', '--transport', 'push', '--batch', '20', '--duration', '2', '--prefix', 'pu-', '--quiet']);
  assert.equal(push.code, 0, push.output);
  assert.equal(push.summary?.errors, 0);
  assert.ok((push.summary?.ackedSamples ?? 0) > 0);
  assert.equal(push.summary?.ackedSamples, push.summary?.sentSamples);
  assert.equal(await sourcesWith(c.url, 'pu-'), 20);
  const metrics = (await (await fetch(`${c.url}/api/v1/metrics`)).json()) as Array<{ metric: string; kind: string; unit: string }>;
  assert.deepEqual(metrics.find((m) => m.metric === 'net.rx_bytes'), { metric: 'net.rx_bytes', unit: 'bytes', kind: 'counter', sources: 60 });

  const help = await runAgent(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.output, /--transport T/);
  const bad = await runAgent(['--transport', 'carrier-pigeon']);
  assert.equal(bad.code, 2);
  const nobody = await runAgent(['--url', 'http://127.0.0.1:1', '--sources', '2', '--duration', '1', '--quiet']);
  assert.equal(nobody.code, 1, 'nothing acknowledged → exit 1');
  assert.ok((nobody.summary?.errors ?? 0) > 0);
});

test('SIGUSR2 ends the agent\'s warm-up at once: its summary counts from the signal on', { timeout: 90_000 }, async (t) => {
  const c = await startCluster({ workers: 2, env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  const args = (prefix: string): string[] => [CLI, 'agent', '--url', c.url, '--sources', '4', '--metrics', '5', '--rate', '5', '--warmup', '3600', '--quiet', '--prefix', prefix];
  const signalled = spawnProcess(process.execPath, args('w1-'));
  const control = spawnProcess(process.execPath, args('w2-'));
  t.after(() => Promise.all([signalled.stop(5000), control.stop(5000)]));
  const accepted = (): Promise<number> => promTotal(c.adminUrl, 'fleetpulse_ingest_samples_total');
  await until('both agents acknowledged', 30_000, async () => (await sourcesWith(c.url, 'w1-')) === 4 && (await sourcesWith(c.url, 'w2-')) === 4, 200);
  signalled.child.kill('SIGUSR2');
  const before = await accepted();
  await until('more samples accepted after the signal', 30_000, async () => (await accepted()) >= before + 200, 200);
  const summaries = await Promise.all([signalled, control].map(async (p) => {
    p.child.kill('SIGTERM');
    await p.exited;
    return JSON.parse(p.output().split('\n').find((l) => l.startsWith('{"transport"')) ?? 'null') as AgentSummary | null;
  }));
  const [w1, w2] = summaries;
  assert.ok(w1 && w2, 'both printed a summary');
  assert.ok(w1.samplesPerSec > 0, `the signalled agent measured from the signal on: ${w1.samplesPerSec} samples/s`);
  assert.ok(w1.durationS < 30, `its window began at the signal (${w1.durationS} s)`);
  assert.equal(w2.samplesPerSec, 0, 'without the signal the agent was still warming up: nothing measured');
});

test('start --demo feeds a simulated fleet over the stream transport', { timeout: 90_000 }, async (t) => {
  const c = await startCluster({ workers: 2, args: ['--demo', '60'], env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  let n = 0;
  for (let i = 0; i < 100 && n < 60; i++) {
    n = (await (await fetch(`${c.url}/api/v1/summary?metric=cpu&window=30s`)).json() as { sources: number }).sources;
    if (n < 60) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(n, 60, 'every demo host reports cpu');
  const text = await (await fetch(`${c.adminUrl}/metrics`)).text();
  const conns = text.split('\n').filter((l) => l.startsWith('fleetpulse_stream_connections')).reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(conns, 60, 'one stream per demo host');
});

test('through Caddy, X-Source takes every agent stream and push to its source\'s owner: nothing forwarded', { timeout: 120_000, skip: skipUnless('caddy') }, async (t) => {
  const c = await startCluster({ workers: 2, balancer: 'caddy', env: { FLEETPULSE_LOG_LEVEL: 'warn' } });
  t.after(() => c.stop());
  for (const transport of ['stream', 'push']) {
    const r = await runAgent(['--url', c.url, '--sources', '30', '--rate', '5', '--duration', '2', '--quiet', '--transport', transport, '--prefix', `cd-${transport}-`]);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.summary?.errors, 0, r.output);
    assert.ok((r.summary?.ackedSamples ?? 0) > 0);
  }
  const text = await (await fetch(`${c.adminUrl}/metrics`)).text();
  const sum = (name: string): number => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.ok(sum('fleetpulse_stream_messages_total') > 0);
  assert.equal(sum('fleetpulse_forwarded_samples_total'), 0, 'every sample arrived at its owner');
});

/**
 * Balancer upstream health as the primary sees it, behind a real Caddy 2.6.2: every declared slot
 * has fleetpulse_balancer_upstream_up (live workers 1, empty slots 0), a hung (stopped) worker's slot
 * goes down and comes back when it runs again, and with Caddy's admin API enabled its own
 * per-upstream view (fails, requests in flight) is exported per slot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from '../testing/cluster.js';
import { freePort } from '../testing/ports.js';
import { getJson, postJson, request } from '../testing/http.js';
import { skipUnless } from '../testing/binaries.js';
import { freezeProcess } from '../testing/process.js';
import { until } from '../testing/until.js';
import { parseExposition } from '../testing/prom-text.js';

interface ClusterInfo { workers: Array<{ id: number; pid: number }> }

/** slot → value of one per-slot gauge in the admin /metrics. */
async function perSlot(adminUrl: string, name: string): Promise<Map<string, number>> {
  const e = parseExposition((await request(`${adminUrl}/metrics`)).body);
  return new Map(e.samples.filter((s) => s.name === name).map((s) => [s.labels.slot!, s.value]));
}

test('caddy: upstream health per declared slot, a hung worker goes down and back, Caddy admin view exported', { skip: skipUnless('caddy'), timeout: 90_000 }, async (t) => {
  const caddyAdminPort = await freePort();
  const cluster = await startCluster({
    workers: 2,
    balancer: 'caddy',
    env: { FLEETPULSE_CONFIG: JSON.stringify({ maxWorkers: 4, caddy: { adminPort: caddyAdminPort, healthIntervalMs: 500 } }) },
  });
  t.after(() => cluster.stop());
  for (let i = 0; i < 4; i++) assert.equal((await postJson(`${cluster.url}/api/v1/ingest`, { source: `c${i}`, metric: 'cpu', value: i })).status, 202);

  await until('slots 0 and 1 up, 2 and 3 down', 20_000, async () => {
    const up = await perSlot(cluster.adminUrl, 'fleetpulse_balancer_upstream_up');
    return [...up.entries()].sort().join() === [['0', 1], ['1', 1], ['2', 0], ['3', 0]].join();
  }, 200);
  await until("Caddy's own per-upstream view is exported for every slot", 20_000, async () => {
    const fails = await perSlot(cluster.adminUrl, 'fleetpulse_balancer_upstream_fails');
    const reqs = await perSlot(cluster.adminUrl, 'fleetpulse_balancer_upstream_requests');
    return fails.size === 4 && reqs.size === 4;
  }, 200);

  // A hung worker (stopped, not dead: no restart hides it) fails the probe Caddy and the primary run.
  const info = await getJson<ClusterInfo>(`${cluster.adminUrl}/admin/cluster`);
  const victim = info.workers.find((w) => w.id === 1)!;
  const resume = freezeProcess(victim.pid);
  t.after(resume);
  await until('slot 1 is seen down', 20_000, async () => (await perSlot(cluster.adminUrl, 'fleetpulse_balancer_upstream_up')).get('1') === 0, 100);
  resume();
  await until('slot 1 is up again', 20_000, async () => (await perSlot(cluster.adminUrl, 'fleetpulse_balancer_upstream_up')).get('1') === 1, 100);
  const lines = cluster.proc.output().split('\n').filter((l) => l.includes('"mod":"upstreams"') && l.includes('"slot":1'));
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['upstream slot 1 up', 'upstream slot 1 down', 'upstream slot 1 up'], 'each transition logged once');
});

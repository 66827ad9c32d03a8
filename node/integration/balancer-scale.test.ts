/**
 * Runtime scaling in memory mode, behind the real Caddy and behind the node:cluster port:
 * 4 → 2 → 3 workers under ingest load.
 * Caddy's config declares every slot up front and is never reloaded; a leaving worker drains
 * (/healthz 503), hands its series to their new owners, then exits; on scale-up the new worker
 * takes over its sources' history. After each step every series answers exactly what was
 * acknowledged: nothing lost, nothing counted twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { skipUnless } from '../testing/binaries.js';
import { startCluster, type RunningCluster } from '../testing/cluster.js';
import { getJson, request } from '../testing/http.js';
import { loop, Outcomes } from '../testing/load.js';
import WebSocket from 'ws';
import { Ownership } from '../state/ownership.js';

interface ClusterInfo { workers: Array<{ id: number; pid: number; series: number; address: string }> }
type Point = [number, number, number, number, number, number];

const SOURCES = 200;

/** What the test sent and had acknowledged, per source: [ts, value] pairs. */
class Ledger {
  readonly acked = new Map<string, Array<[number, number]>>();
  #seq = new Map<string, number>();
  readonly #base = Date.now() - 120_000;

  next(source: string): { ts: number; value: number } {
    const n = (this.#seq.get(source) ?? 0) + 1;
    this.#seq.set(source, n);
    // Distinct timestamps per source, ~100 per fine bucket; integer values keep sums exact in any order.
    return { ts: this.#base + n * 10, value: (n * 7) % 1000 };
  }

  ack(source: string, ts: number, value: number): void {
    let a = this.acked.get(source);
    if (a === undefined) this.acked.set(source, (a = []));
    a.push([ts, value]);
  }

  expected(source: string): Point[] {
    const by = new Map<number, { p: Point; lastTs: number }>();
    for (const [ts, v] of this.acked.get(source) ?? []) {
      const start = Math.floor(ts / 1000) * 1000;
      const cur = by.get(start);
      if (cur === undefined) by.set(start, { p: [start, 1, v, v, v, v], lastTs: ts });
      else {
        cur.p[1]++;
        cur.p[2] += v;
        cur.p[3] = Math.min(cur.p[3], v);
        cur.p[4] = Math.max(cur.p[4], v);
        if (ts > cur.lastTs) {
          cur.p[5] = v;
          cur.lastTs = ts;
        }
      }
    }
    return [...by.values()].map((b) => b.p).sort((a, b) => a[0] - b[0]);
  }
}

async function verifyExact(c: RunningCluster, ledger: Ledger, agent: http.Agent, step: string): Promise<number> {
  let samples = 0;
  for (let i = 0; i < SOURCES; i++) {
    const source = `sc-${i}`;
    const got = await getJson<{ points: Point[] }>(`${c.url}/api/v1/series?metric=scale&source=${source}&from=-5m&step=1000`, agent);
    assert.deepEqual(got.points, ledger.expected(source), `${step}: series of ${source} is not exact`);
    samples += ledger.acked.get(source)?.length ?? 0;
  }
  const sources = await getJson<Array<{ source: string }>>(`${c.url}/api/v1/sources`, agent);
  assert.equal(sources.filter((s) => s.source.startsWith('sc-')).length, SOURCES, `${step}: /api/v1/sources`);
  const metrics = await getJson<Array<{ metric: string; sources: number }>>(`${c.url}/api/v1/metrics`, agent);
  assert.deepEqual(metrics.filter((m) => m.metric === 'scale').map((m) => [m.metric, m.sources]), [['scale', SOURCES]], `${step}: /api/v1/metrics`);
  return samples;
}

for (const balancer of ['caddy', 'cluster'] as const) {
  const skip = balancer === 'caddy' ? skipUnless('caddy') : false;
  test(`${balancer}: scale 4 → 2 → 3 under load, partitions handed off, every query exact`, { skip, timeout: 150_000 }, async (t) => {
    const c = await startCluster({ workers: 4, balancer });
    t.after(() => c.stop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    t.after(() => agent.destroy());
    const ledger = new Ledger();
    const posts = new Outcomes();
    const gets = new Outcomes();
    const caddyPid = (): string | undefined => /"caddyPid":(\d+)/.exec(c.proc.output())?.[1];
    const caddyAtStart = caddyPid();

    const runLoad = (stop: () => boolean): Promise<unknown> =>
      Promise.all([
        loop(8, stop, async (i) => {
          const source = `sc-${i % SOURCES}`;
          const { ts, value } = ledger.next(source);
          const a = await request(`${c.url}/api/v1/ingest`, { method: 'POST', agent, timeoutMs: 15_000, headers: { 'content-type': 'application/json', 'x-source': source }, body: JSON.stringify({ source, metric: 'scale', value, ts }) }).catch((e: Error) => e);
          if (a instanceof Error) posts.add(`error: ${a.message.slice(0, 60)}`);
          else {
            posts.add(String(a.status));
            if (a.status === 202) ledger.ack(source, ts, value);
          }
        }),
        // Queries keep running through the scaling (answers change under load; they must not fail).
        loop(1, stop, async (i) => {
          const a = await request(`${c.url}/api/v1/series?metric=scale&source=sc-${i % SOURCES}&from=-5m`, { agent, timeoutMs: 15_000 }).catch((e: Error) => e);
          gets.add(a instanceof Error ? `error: ${a.message.slice(0, 60)}` : String(a.status));
        }),
      ]);
    const scaleTo = async (n: number): Promise<void> => {
      const a = await request(`${c.adminUrl}/admin/scale`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workers: n }), timeoutMs: 60_000 });
      assert.equal(a.status, 200, a.body);
    };
    const underLoad = async (n: number): Promise<void> => {
      let stop = false;
      const load = runLoad(() => stop);
      const warm = posts.total + 300;
      const deadline = Date.now() + 30_000;
      while (posts.total < warm) {
        assert.ok(Date.now() < deadline, `no load progress: ${posts}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await scaleTo(n);
      const after = posts.total + 300;
      while (posts.total < after) {
        assert.ok(Date.now() < deadline + 30_000, `no load progress after scaling: ${posts}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      stop = true;
      await load;
    };

    // A stream WebSocket on worker 0 (which survives every step) must stay open throughout:
    // Caddy is never reloaded, and scaling only starts or stops other workers.
    let ws: WebSocket | undefined;
    let wsClosed = false;
    const wsAck = (seq: number): Promise<void> => {
      const open = ws!;
      return new Promise((resolve, reject) => {
        const t0 = setTimeout(() => reject(new Error(`no ack ${seq} on the surviving stream`)), 15_000);
        open.on('message', (d) => {
          if ((JSON.parse(String(d)) as { ack?: number }).ack === seq) {
            clearTimeout(t0);
            resolve();
          }
        });
        open.send(JSON.stringify({ seq, samples: [{ source: 'ws-keep', metric: 'keep', value: seq }] }));
      });
    };
    if (balancer === 'caddy') {
      const info0 = await getJson<ClusterInfo>(`${c.adminUrl}/admin/cluster`);
      const own = new Ownership([0, 1, 2, 3], Number(info0.workers[0]!.address.split(':')[1]));
      const source = Array.from({ length: 100 }, (_, i) => `ws-keep-${i}`).find((x) => own.ownerOf(x) === 0)!;
      ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/api/v1/stream`, { headers: { 'x-source': source }, perMessageDeflate: false });
      t.after(() => ws?.terminate());
      const worker = await new Promise<number>((resolve, reject) => {
        ws!.once('upgrade', (res) => resolve(Number(res.headers['x-fleetpulse-worker'])));
        ws!.once('error', reject);
      });
      assert.equal(worker, 0);
      await new Promise<void>((resolve) => (ws!.readyState === WebSocket.OPEN ? resolve() : ws!.once('open', () => resolve())));
      ws.on('close', () => (wsClosed = true));
      await wsAck(1);
    }

    await underLoad(2);
    let info = await getJson<ClusterInfo>(`${c.adminUrl}/admin/cluster`);
    assert.deepEqual(info.workers.map((w) => w.id), [0, 1]);
    // Every source's series now lives in exactly one of the two partitions (handed off and merged).
    assert.equal(info.workers.reduce((n, w) => n + w.series, 0), SOURCES + (ws === undefined ? 0 : 1));
    const afterDown = await verifyExact(c, ledger, agent, '4 → 2');

    if (ws !== undefined) await wsAck(2);
    await underLoad(3);
    info = await getJson<ClusterInfo>(`${c.adminUrl}/admin/cluster`);
    assert.deepEqual(info.workers.map((w) => w.id), [0, 1, 2]);
    // The new worker took over its sources (history included): partitions are disjoint again.
    assert.equal(info.workers.reduce((n, w) => n + w.series, 0), SOURCES + (ws === undefined ? 0 : 1));
    assert.ok(info.workers[2]!.series > 0);
    const afterUp = await verifyExact(c, ledger, agent, '2 → 3');

    t.diagnostic(`POSTs ${posts}; GETs ${gets}; samples verified exact: ${afterDown} after 4 → 2, ${afterUp} after 2 → 3`);
    assert.equal(posts.count((l) => l !== '202'), 0, `no ingest request may fail while scaling: ${posts}`);
    assert.equal(gets.count((l) => l !== '200'), 0, `no query may fail while scaling: ${gets}`);
    if (ws !== undefined) {
      await wsAck(3);
      assert.equal(wsClosed, false, 'the stream on a surviving worker was closed while scaling');
    }
    if (balancer === 'caddy') {
      // Caddy was never restarted or reloaded: the same process, started once.
      assert.equal(c.proc.output().match(/"msg":"caddy serving"/g)?.length, 1);
      assert.equal(caddyPid(), caddyAtStart);
    }
  });
}

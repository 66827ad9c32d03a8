/**
 * The dashboard end to end, in Debian's Chromium (playwright-core, no bundled browser): a real
 * cluster (2 workers, memory mode), samples pushed over HTTP by this test, every view opened by
 * its deep link. Values on screen are compared with the query API, must change live, a reconnect
 * must leave no gap and no duplicate, a crafted source name must render as text, and the strict
 * CSP must see no violation. Screenshots go to results/screenshots/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startCluster } from '../testing/cluster.js';
import { launchChromium } from '../testing/chromium.js';
import { skipUnless } from '../testing/binaries.js';
import { formatValue } from '../../dashboard/lib/format.js';
import type { SeriesAnswer, SourceAnswer, SummaryAnswer } from '../state/store.js';
import { until } from '../testing/until.js';

const SCREENSHOTS = fileURLToPath(new URL('../../../results/screenshots/', import.meta.url));
const XSS = '<img src=x onerror=alert(1)>';
const SOURCES = Array.from({ length: 60 }, (_, i) => `src-${String(i).padStart(3, '0')}`);

function skipReason(): string | false {
  const r = skipUnless('chromium');
  if (r !== false) return r;
  return fs.existsSync(fileURLToPath(new URL('../../web/index.html', import.meta.url))) ? false : 'dashboard not built (npm run build builds dist/web)';
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  assert.equal(r.status, 200, `${url}: ${r.status}`);
  return (await r.json()) as T;
}

/** Pushes one sample per source and metric every 500 ms (two per 1 s bucket, so buckets are dense). */
function startPusher(url: string): { pause(): void; resume(): void; stop(): void; round(): number } {
  let round = 0;
  let paused = false;
  const tick = async (): Promise<void> => {
    if (paused) return;
    const now = Date.now();
    round++;
    const samples = SOURCES.flatMap((source, i) => [
      { source, metric: 'cpu', value: (i % 50) + (round % 7), ts: now, unit: '%' },
      { source, metric: 'mem', value: 1000 + i * 10 + (round % 5), ts: now, unit: 'MB' },
    ]);
    await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(samples) }).catch(() => {});
  };
  const timer = setInterval(() => void tick(), 500);
  void tick();
  return { pause: () => (paused = true), resume: () => (paused = false), stop: () => clearInterval(timer), round: () => round };
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

test('dashboard in Chromium: every view matches the query API, updates live, survives a reconnect without a gap, renders names as text', { skip: skipReason(), timeout: 150_000 }, async (t) => {
  const cluster = await startCluster({ workers: 2, balancer: 'cluster', state: 'memory' });
  t.after(() => cluster.stop());
  const pusher = startPusher(cluster.url);
  t.after(() => pusher.stop());
  await until('all sources ingested', 20_000, async () => (await getJson<SourceAnswer[]>(`${cluster.url}/api/v1/sources`)).length === SOURCES.length);

  // Static files: index revalidates, hashed assets are immutable, both carry the strict CSP.
  const index = await fetch(`${cluster.url}/fleet?metric=cpu`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1];
  assert.ok(asset !== undefined, 'index.html references a hashed script');
  const a = await fetch(`${cluster.url}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal((await fetch(`${cluster.url}${asset}`, { headers: { 'if-none-match': a.headers.get('etag')! } })).status, 304);

  const browser = await launchChromium({ width: 1280, height: 800 });
  t.after(() => browser.close());
  const context: BrowserContext = browser.context;
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });

  // ---- Fleet: tiles and lists equal the query API (with ingest paused), then change live ----
  await page.goto(`${cluster.url}/fleet?metric=cpu`);
  await page.locator('fp-connection-indicator[state="live"]').waitFor({ timeout: 20_000 });
  await until('the heat map and tiles fill', 20_000, async () => (await text(page, 'fp-stat-tile#live [data-testid=value]')) === String(SOURCES.length));
  pusher.pause();
  await new Promise((r) => setTimeout(r, 1500)); // the last flush and summary of the paused state
  await until('Fleet tiles equal /api/v1/summary', 15_000, async () => {
    const s = await getJson<SummaryAnswer>(`${cluster.url}/api/v1/summary?metric=cpu&window=10s&by=last`);
    const shown = [await text(page, 'fp-stat-tile#avg [data-testid=value]'), await text(page, 'fp-stat-tile#p50 [data-testid=value]'), await text(page, 'fp-stat-tile#p99 [data-testid=value]')];
    const top = await text(page, 'fp-rank-list#top li a');
    return shown.join('|') === [formatValue(s.avg, '%'), formatValue(s.p50, '%'), formatValue(s.p99, '%')].join('|') && top === s.top[0]!.source;
  });
  const sources = await getJson<SourceAnswer[]>(`${cluster.url}/api/v1/sources`);
  assert.equal(await text(page, 'fp-stat-tile#live [data-testid=value]'), String(sources.filter((s) => s.status === 'live').length));
  const canvas = await page.locator('fp-heatmap canvas').boundingBox();
  assert.ok(canvas !== null && canvas.width > 300 && canvas.height > 20, 'heat map drawn');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'fleet.png') });
  const avgBefore = await text(page, 'fp-stat-tile#avg [data-testid=value]');
  pusher.resume();
  await until('Fleet avg changes live', 15_000, async () => (await text(page, 'fp-stat-tile#avg [data-testid=value]')) !== avgBefore);
  // Hover names the source; click opens it (deep link to the Source view).
  await page.locator('fp-heatmap canvas').hover({ position: { x: 5, y: 5 } });
  assert.match(await text(page, 'fp-heatmap .tip'), /src-000/);
  await page.locator('fp-heatmap canvas').click({ position: { x: 5, y: 5 } });
  await page.waitForURL(/\/source\/src-000$/);

  // ---- Source: every metric of one source, current values equal the API ----
  await page.goto(`${cluster.url}/source/src-003`);
  await page.locator('fp-metric-chart[data-metric="mem"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('fp-metric-chart').count(), 2);
  pusher.pause();
  await new Promise((r) => setTimeout(r, 1200));
  await until('Source view current values equal /api/v1/series', 15_000, async () => {
    for (const metric of ['cpu', 'mem']) {
      const s = await getJson<SeriesAnswer>(`${cluster.url}/api/v1/series?metric=${metric}&source=src-003&from=-1m`);
      const last = s.points.at(-1)![5];
      if ((await text(page, `fp-metric-chart[data-metric="${metric}"] [data-testid=current]`)) !== formatValue(last, metric === 'cpu' ? '%' : 'MB')) return false;
    }
    return true;
  });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'source.png') });
  pusher.resume();

  // ---- Explore: several series, live, then a reconnect that must leave no gap or duplicate ----
  await page.goto(`${cluster.url}/explore?metric=cpu&sources=src-001,src-002&range=1m`);
  const chart = page.locator('fp-metric-chart');
  await chart.waitFor({ timeout: 15_000 });
  await until('both series have points', 15_000, async () => {
    const pts = (await chart.evaluate((el) => (el as unknown as { points(): unknown[][] }).points())) as unknown[][];
    return pts.length === 2 && pts.every((p) => p.length > 5);
  });
  const legend1 = await text(page, 'fp-metric-chart [data-testid=current]');
  await until('the legend changes live', 15_000, async () => (await text(page, 'fp-metric-chart [data-testid=current]')) !== legend1);
  const cutAt = Date.now();
  await page.evaluate(() => (globalThis as unknown as { __fleetpulse: { reconnect(): void } }).__fleetpulse.reconnect());
  await page.locator('fp-connection-indicator[state="reconnecting"]').waitFor({ timeout: 10_000 }).catch(() => {});
  await page.locator('fp-connection-indicator[state="live"]').waitFor({ timeout: 20_000 });
  await new Promise((r) => setTimeout(r, 3000)); // live buckets after the reconnect, to compare too
  pusher.pause();
  // Every completed bucket from before the cut to the pause must equal the REST answer exactly:
  // a missing bucket is a gap, a larger count a duplicate. With ingest paused nothing changes
  // any more, so the screen is compared until it matches (the last flush may still be on its way
  // on a loaded machine) and a real gap or duplicate, which stays, fails with the bucket's name.
  const pausedAt = Date.now();
  const mismatches = async (): Promise<string[]> => {
    const shown = (await chart.evaluate((el) => (el as unknown as { points(): unknown }).points())) as Array<Array<[number, number, number]>>;
    const out: string[] = [];
    for (const [i, source] of ['src-001', 'src-002'].entries()) {
      const rest = await getJson<SeriesAnswer>(`${cluster.url}/api/v1/series?metric=cpu&source=${source}&from=${cutAt - 8000}&to=${pausedAt - 1000}`);
      const fromUi = new Map(shown[i]!.map((p) => [p[0], p]));
      if (rest.points.length < 8) out.push(`REST has only ${rest.points.length} points around the reconnect`);
      for (const p of rest.points) {
        const u = fromUi.get(p[0]);
        const at = new Date(p[0]).toISOString();
        if (u === undefined) out.push(`${source}: bucket ${at} missing on screen after the reconnect (gap)`);
        else if (u[1] !== p[1] || u[2] !== p[2]) out.push(`${source}: bucket ${at} count ${u[1]} sum ${u[2]} on screen, ${p[1]} and ${p[2]} stored (duplicate or partial)`);
      }
    }
    return out;
  };
  let last: string[] = [];
  await until('the chart equals /api/v1/series around the reconnect', 10_000, async () => (last = await mismatches()).length === 0).catch((e: Error) => {
    assert.fail(last.length > 0 ? last.join('; ') : e.message);
  });
  pusher.resume();
  // Search as you type renders what was typed as text, too.
  await page.locator('fp-source-picker input').first().fill(XSS);
  assert.equal(await text(page, 'fp-source-picker li.none'), `No source matches “${XSS}”`);
  await page.locator('fp-source-picker input').first().fill('src-00');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForURL(/sources=src-001,src-002,src-00/);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'explore.png') });

  // ---- Cluster: workers and histograms (keyboard: 4 opens it) ----
  await page.locator('body').click({ position: { x: 1, y: 790 } });
  await page.keyboard.press('4');
  await page.waitForURL(/\/cluster$/);
  await page.locator('fp-cluster-view tr[data-worker]').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('fp-cluster-view tr[data-worker]').count(), 2);
  assert.equal(await text(page, 'fp-stat-tile#state [data-testid=value]'), 'memory');
  await until('sample-to-broadcast histogram has data', 15_000, async () => /^[1-9]/.test(await text(page, 'fp-latency-histogram#s2b .stats')));
  // Every bucket bound is labelled, and no two labels overlap (14 bounds on a narrow panel).
  const overlaps = await page.locator('fp-latency-histogram#s2b').evaluate((el) => {
    const boxes = [...el.shadowRoot!.querySelectorAll('svg text')].map((t) => t.getBoundingClientRect());
    const hit = boxes.flatMap((a, i) => boxes.slice(i + 1).filter((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom).map(() => i));
    return { labels: boxes.length, hit: hit.length };
  });
  assert.equal(overlaps.labels, 14, 'one label per bucket bound, +Inf included');
  assert.equal(overlaps.hit, 0, 'histogram labels overlap');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'cluster.png') });

  // ---- A crafted source name in a link renders literally: no element, no script ----
  await page.goto(`${cluster.url}/source/${encodeURIComponent(XSS)}`);
  await page.locator('#missing').waitFor({ timeout: 15_000 });
  assert.equal(await text(page, '#missing .name'), XSS);
  assert.equal(await page.locator('img').count(), 0, 'no <img> element was created');

  // ---- Dark theme (the README's second look) ----
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${cluster.url}/fleet?metric=cpu`);
  await until('dark fleet view filled', 15_000, async () => (await text(page, 'fp-stat-tile#live [data-testid=value]')) === String(SOURCES.length));
  await new Promise((r) => setTimeout(r, 1500));
  await page.screenshot({ path: path.join(SCREENSHOTS, 'fleet-dark.png') });

  // Browsers report sample-to-screen latency a few times a minute; the server exports it.
  await until('fleetpulse_sample_to_screen_seconds has browser reports', 40_000, async () => {
    const metrics = await (await fetch(`${cluster.adminUrl}/metrics`)).text();
    return [...metrics.matchAll(/^fleetpulse_sample_to_screen_seconds_count\S* (\d+)$/gm)].some((m) => Number(m[1]) > 0);
  });

  pusher.pause();
  await new Promise((r) => setTimeout(r, 1200));
  // ---- A history read that fails is tried again: with ingest paused no live update would ever fill in
  // what the first read should have brought (the browser's first two series reads answer 503).
  let refused = 0;
  await page.route('**/api/v1/series?*', (route) => (refused++ < 2 ? route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"overloaded","message":"test: refused"}}' }) : route.continue()));
  await page.goto(`${cluster.url}/source/src-004`);
  await until('Source view recovers from failed history reads', 15_000, async () => {
    for (const metric of ['cpu', 'mem']) {
      const s = await getJson<SeriesAnswer>(`${cluster.url}/api/v1/series?metric=${metric}&source=src-004&from=-1m`);
      if ((await text(page, `fp-metric-chart[data-metric="${metric}"] [data-testid=current]`)) !== formatValue(s.points.at(-1)![5], metric === 'cpu' ? '%' : 'MB')) return false;
    }
    return true;
  });
  assert.equal(refused >= 2, true, 'the first history reads were refused');
  await page.unroute('**/api/v1/series?*');
  // The browser logs each refused read; those two are this check's own, not the page's.
  for (let k = 0; k < 2; k++) problems.splice(problems.findIndex((p) => p.includes('status of 503')), 1);

  assert.deepEqual(problems.filter((p) => !/favicon/.test(p)), [], 'no console errors, CSP violations, page errors or dialogs');
});

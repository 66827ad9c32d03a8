/**
 * The dashboard with read keys, in Debian's Chromium (issue 9 §1): without a key the page shows
 * the login prompt (the API answered 401 and Socket.IO refused the handshake); an ingest key is
 * refused too; the read key is kept in sessionStorage only, sent to the API and Socket.IO, and
 * the views work; `?key=` in the address is taken and removed from it; "Sign out" forgets it.
 * The series-limit panel of the Cluster view names the sources that hit state.maxSeries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../testing/cluster.js';
import { launchChromium } from '../testing/chromium.js';
import { skipUnless } from '../testing/binaries.js';
import { request } from '../testing/http.js';

const READ = 'dash-read-key-7d1e0c';
const INGEST = 'dash-ingest-key-55aa01';

function skipReason(): string | false {
  const r = skipUnless('chromium');
  if (r !== false) return r;
  return fs.existsSync(fileURLToPath(new URL('../../web/index.html', import.meta.url))) ? false : 'dashboard not built (npm run build builds dist/web)';
}

test('dashboard with keys: login prompt, key in session storage only, live data after sign-in, sign-out; series-limit panel', { skip: skipReason(), timeout: 120_000 }, async (t) => {
  const c = await startCluster({
    workers: 1,
    env: { FLEETPULSE_LOG_LEVEL: 'warn', FLEETPULSE_INGEST_KEYS: INGEST, FLEETPULSE_READ_KEYS: READ, FLEETPULSE_CONFIG: JSON.stringify({ state: { maxSeries: 5 } }) },
  });
  t.after(() => c.stop());
  const push = (source: string): Promise<number> =>
    request(`${c.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST}` }, body: JSON.stringify({ source, metric: 'cpu', value: 42 }) }).then((a) => a.status);
  for (let i = 0; i < 5; i++) assert.equal(await push(`dl-${i}`), 202);
  assert.equal(await push('dl-over-the-limit'), 429);

  const browser = await launchChromium({ width: 1200, height: 800 });
  t.after(() => browser.close());
  const context = browser.context;
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    // The refused requests themselves are logged by Chromium as failed loads: expected here.
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));

  // No key: the prompt, and no data.
  await page.goto(`${c.url}/fleet?metric=cpu`);
  await page.locator('fp-login').waitFor({ timeout: 20_000 });
  assert.match(await page.locator('fp-login .panel').innerText(), /needs a read key/);

  // An ingest key is refused (403): still the prompt, now saying the key was refused.
  await page.locator('fp-login input').fill(INGEST);
  await page.locator('fp-login button[type=submit]').click();
  await page.waitForLoadState('load');
  await page.locator('fp-login').waitFor({ timeout: 20_000 });
  assert.match(await page.locator('fp-login .panel').innerText(), /refused/);
  await page.locator('fp-login button[type=button]').click(); // forget the stored key
  await page.waitForLoadState('load');

  // The read key: data and a live connection.
  await page.locator('fp-login input').fill(READ);
  await page.locator('fp-login button[type=submit]').click();
  await page.waitForLoadState('load');
  await page.locator('fp-connection-indicator[state="live"]').waitFor({ timeout: 20_000 });
  assert.equal(await page.locator('fp-login').count(), 0, 'no prompt once signed in');
  assert.equal(await page.evaluate("sessionStorage.getItem('fp-key')"), READ);
  assert.equal(await page.evaluate("localStorage.getItem('fp-key')"), null, 'never in localStorage');
  assert.equal((await context.cookies()).length, 0, 'no cookie');

  // The Cluster view names the source that hit the series limit.
  await page.goto(`${c.url}/cluster`);
  await page.locator('#series-limit tr[data-source="dl-over-the-limit"]').waitFor({ timeout: 20_000 });

  // Sign out forgets the key; `?key=` signs in again and leaves the address bar.
  await page.locator('header button', { hasText: 'Sign out' }).click();
  await page.waitForLoadState('load');
  await page.locator('fp-login').waitFor({ timeout: 20_000 });
  await page.goto(`${c.url}/fleet?metric=cpu&key=${READ}`);
  await page.locator('fp-connection-indicator[state="live"]').waitFor({ timeout: 20_000 });
  assert.ok(!page.url().includes('key='), `the key left the address: ${page.url()}`);
  assert.match(page.url(), /metric=cpu/);
  assert.deepEqual(problems, [], 'no console errors or page errors');
});

/**
 * The cluster scrape's pure parts: the per-worker budget derived from the scraper's timeout, and
 * which worker answers are mergeable. (A real stopped worker is left out of a real scrape in
 * node/integration/observability.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createWorkerMetrics } from './metrics.js';
import { isMetricsJson, scrapeBudgetMs } from '../primary/scrape.js';

test('the per-worker budget stays below the scraper timeout, capped by the configured maximum', () => {
  assert.equal(scrapeBudgetMs(undefined, 4000), 4000, 'no header: the maximum');
  assert.equal(scrapeBudgetMs('10', 4000), 4000, 'Prometheus default 10 s: capped');
  assert.equal(scrapeBudgetMs('1', 4000), 750, '1 s: minus 250 ms margin');
  assert.equal(scrapeBudgetMs('3', 4000), 2400, '3 s: minus 20 %');
  assert.equal(scrapeBudgetMs('0.2', 4000), 100, 'tiny: never below 100 ms');
  assert.equal(scrapeBudgetMs(['2', '9'], 4000), 1600, 'first header value');
  for (const bad of ['', 'abc', '-1', '0', 'Infinity']) assert.equal(scrapeBudgetMs(bad, 4000), 4000, bad);
});

test('worker answers: real registries merge, anything else is left out', async () => {
  const r = new Registry();
  createWorkerMetrics(r);
  assert.equal(isMetricsJson(await r.getMetricsAsJSON()), true);
  assert.equal(isMetricsJson([]), true);
  assert.equal(isMetricsJson(null), false);
  assert.equal(isMetricsJson({ name: 'x' }), false);
  assert.equal(isMetricsJson([{ name: 'x', type: 'gauge', values: [], aggregator: 'median' }]), false, 'an aggregator prom-client would throw on');
  assert.equal(isMetricsJson([{ name: 'x', type: 'gauge', values: 'no', aggregator: 'sum' }]), false);
});

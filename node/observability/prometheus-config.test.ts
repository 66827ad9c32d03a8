/**
 * The example Prometheus setup in deploy/prometheus/ is valid for the Prometheus we ship against
 * (Debian's `prometheus`/`promtool`): the scrape config and its rule files load, and the alerting
 * rules fire (and stay quiet) as their unit tests in alerts.test.yml expect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipUnless } from '../testing/binaries.js';

const DIR = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd: DIR, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

test('promtool check config: the example scrape config and its rule files load', { skip: skipUnless('promtool'), timeout: 60_000 }, async () => {
  const r = await promtool(['check', 'config', join(DIR, 'prometheus.yml')]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 1 rule files found/);
});

test('promtool check rules: the alerting rules are valid', { skip: skipUnless('promtool'), timeout: 60_000 }, async () => {
  const r = await promtool(['check', 'rules', join(DIR, 'alerts.yml')]);
  assert.equal(r.code, 0, r.out);
  // Worker down, ingest errors, Redis down, sample-to-screen p99 (and a few more).
  assert.match(r.out, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: each alert fires on its bad case and stays quiet on the good one', { skip: skipUnless('promtool'), timeout: 60_000 }, async () => {
  const r = await promtool(['test', 'rules', join(DIR, 'alerts.test.yml')]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

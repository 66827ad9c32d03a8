/**
 * The bench runner end to end: `--quick` for one cheap scenario (push) with a tiny duration into a
 * temp --out dir, then the report files and the JSON schema (machine record included).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnProcess } from '../node/testing/process.js';
import { checkReport, type ScenarioReport } from './lib/report.js';

const RUNNER = fileURLToPath(new URL('./run.js', import.meta.url));

test('npm run bench -- push --quick writes a schema-valid report and the README', { timeout: 150_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'fleetpulse-bench-test-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const p = spawnProcess(process.execPath, [RUNNER, 'push', '--quick', '--duration', '0.5', '--out', out]);
  t.after(() => p.stop(2000));
  const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 140_000).unref())]);
  assert.equal(code, 0, `bench runner exited ${String(code)}:\n${p.output().slice(-3000)}`);

  const report = JSON.parse(readFileSync(join(out, 'push.json'), 'utf8')) as ScenarioReport;
  assert.deepEqual(checkReport(report), []);
  assert.equal(report.scenario, 'push');
  assert.deepEqual(report.settings, { quick: true, repeat: 1, durationS: 0.5 });
  assert.ok(report.runs.length > 0, 'runs recorded');
  assert.ok(report.findings.length > 0, 'findings written');
  const m = report.machine;
  assert.equal(typeof m.cpuModel, 'string');
  assert.ok(m.cores >= 1 && m.memoryBytes > 0);
  assert.match(m.node, /^v\d+/);
  assert.match(m.gitCommit ?? '', /^[0-9a-f]{7,}$/, 'git commit recorded');
  assert.ok('caddy' in m && 'redis' in m, 'caddy and redis versions recorded (null when missing)');

  assert.ok(existsSync(join(out, 'push.md')), 'push.md written');
  for (const c of report.charts) assert.match(readFileSync(join(out, c), 'utf8'), /^<svg /, `${c} is an SVG`);
  const readme = readFileSync(join(out, 'README.md'), 'utf8');
  assert.match(readme, /# FleetPulse benchmark results/);
  assert.match(readme, /--quick/, 'README flags quick numbers');
  assert.ok(readme.includes(report.title), 'README has the push section');
});

test('the bench runner rejects an unknown scenario with exit 2 and the usage', { timeout: 30_000 }, async () => {
  const p = spawnProcess(process.execPath, [RUNNER, 'nope', '--quick']);
  assert.equal(await p.exited, 2, p.output());
  assert.match(p.output(), /unknown scenario\(s\): nope[\s\S]*Usage: npm run bench/);
});

test('the bench runner rejects an unknown flag and a bad --duration with exit 2 and a message, no stack trace', { timeout: 30_000 }, async () => {
  for (const [args, message] of [
    [['push', '--bogus'], /Unknown option '--bogus'[\s\S]*Usage: npm run bench/],
    [['push', '--duration', '-1'], /'--duration' argument is ambiguous[\s\S]*Usage: npm run bench/],
    [['push', '--duration', 'abc'], /--duration a positive number of seconds/],
  ] as const) {
    const p = spawnProcess(process.execPath, [RUNNER, ...args]);
    assert.equal(await p.exited, 2, `${args.join(' ')}: ${p.output()}`);
    assert.match(p.output(), message);
    assert.doesNotMatch(p.output(), /\n\s+at /, 'no stack trace');
  }
});

/**
 * bench/fuzz: the decoders' property tests at bench strength — every property of
 * node/ingest/parse.fuzz.test.ts (JSON, NDJSON, wide form, gzip) and
 * node/ingest/stream-decode.fuzz.test.ts (stream frames) and node/ingest/fast-scan.fuzz.test.ts (the
 * fast path against parse.ts) with FLEETPULSE_FUZZ_RUNS = 100,000
 * cases each (2,000 with --quick), in a child `node --test` so a hang or crash is the child's,
 * bounded by the scenario's time limit. CI runs the same tests at 3,000 cases.
 *
 * The baseline is the CI count: the table shows how many times more cases the bench ran.
 */
import { fileURLToPath } from 'node:url';
import { spawnProcess } from '../../node/testing/process.js';
import { FUZZ_RUNS_ENV } from '../../node/testing/fuzz.js';
import type { Scenario } from '../lib/scenario.js';

const FILES = ['parse.fuzz.test.js', 'stream-decode.fuzz.test.js', 'fast-scan.fuzz.test.js'].map((f) => fileURLToPath(new URL(`../../node/ingest/${f}`, import.meta.url)));
const CI_RUNS = 3000;

/** Which decoder a property exercises, from its test name (kept in step with the test files). */
function decoderOf(name: string): string {
  if (name.startsWith('stream frames')) return 'stream frames';
  if (name.startsWith('fast path')) return 'fast path vs JSON';
  if (name.startsWith('gzip')) return 'gzip';
  if (/NDJSON/.test(name)) return 'NDJSON + JSON';
  if (name.startsWith('wide form')) return 'wide (JSON)';
  if (name.startsWith('arbitrary strings')) return 'JSON + NDJSON';
  return 'JSON';
}

interface PropertyRun {
  name: string;
  decoder: string;
  ok: boolean;
  cases: number;
  seconds: number;
}

/** Results of `node --test` TAP output: `ok N - name` / `not ok N - name`, then `duration_ms`. */
export function parseTap(out: string, cases: number): PropertyRun[] {
  const runs: PropertyRun[] = [];
  const lines = out.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(not )?ok \d+ - (.+?)(?: # .*)?$/.exec(lines[i]!);
    if (m === null) continue;
    let ms = 0;
    for (let j = i + 1; j < Math.min(lines.length, i + 12); j++) {
      const d = /^\s+duration_ms: ([\d.]+)/.exec(lines[j]!);
      if (d !== null) {
        ms = Number(d[1]);
        break;
      }
    }
    runs.push({ name: m[2]!, decoder: decoderOf(m[2]!), ok: m[1] === undefined, cases, seconds: ms / 1000 });
  }
  return runs;
}

export const fuzzScenario: Scenario = {
  name: 'fuzz',
  description: 'property tests of every ingest decoder (JSON, NDJSON, wide, gzip, stream frames) at 100,000 cases each (2,000 with --quick)',
  timeLimitS: (c) => (c.quick ? 300 : 3600),
  async run(ctx) {
    const cases = ctx.quick ? 2000 : 100_000;
    ctx.progress(`${cases.toLocaleString('en-US')} cases per property…`);
    const started = Date.now();
    const child = spawnProcess(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...FILES], {
      env: { ...(process.env as Record<string, string>), [FUZZ_RUNS_ENV]: String(cases) },
    });
    const onAbort = (): void => void child.stop(1000);
    ctx.signal.addEventListener('abort', onAbort);
    const timer = setInterval(() => ctx.progress(`${parseTap(child.output(), cases).length} properties done, ${((Date.now() - started) / 1000).toFixed(0)} s`), 5000);
    const code = await child.exited;
    clearInterval(timer);
    ctx.signal.removeEventListener('abort', onAbort);
    const runs = parseTap(child.output(), cases);
    if (runs.length === 0) throw new Error(`the fuzz tests printed no results (exit ${code}):\n${child.output().slice(-2000)}`);
    const failed = runs.filter((r) => !r.ok);
    const byDecoder = new Map<string, { cases: number; seconds: number }>();
    for (const r of runs) {
      const d = byDecoder.get(r.decoder) ?? { cases: 0, seconds: 0 };
      d.cases += r.cases;
      d.seconds += r.seconds;
      byDecoder.set(r.decoder, d);
    }
    const total = runs.reduce((n, r) => n + r.cases, 0);
    return {
      title: 'Fuzzing the ingest decoders (fast-check property tests)',
      params: { casesPerProperty: cases, ciCasesPerProperty: CI_RUNS, files: FILES.map((f) => f.split('/').pop()) },
      runs: runs.map((r) => ({ ...r })),
      summary: { properties: runs.length, failed: failed.length, totalCases: total, exitCode: code, ratioToCi: cases / CI_RUNS },
      tables: [
        {
          title: 'Per property',
          columns: ['property', 'decoder', 'cases', 'vs CI', 'seconds', 'cases/s', 'result'],
          rows: runs.map((r) => [r.name, r.decoder, r.cases, `${(r.cases / CI_RUNS).toFixed(0)}x`, r.seconds, r.seconds > 0 ? Math.round(r.cases / r.seconds) : 0, r.ok ? 'pass' : 'FAIL']),
        },
        {
          title: 'Per decoder',
          columns: ['decoder', 'cases', 'seconds'],
          rows: [...byDecoder].map(([d, v]) => [d, v.cases, v.seconds]),
        },
      ],
      findings: [
        failed.length === 0
          ? `${runs.length} properties, ${total.toLocaleString('en-US')} cases in all: no decoder threw anything but a coded FleetPulseError, hung, or accepted a sample outside the sample model; every stream frame kept its readable seq and never invented one.`
          : `${failed.length} properties FAILED: ${failed.map((f) => f.name).join('; ')}. The counterexample is in the child's output (rerun: FLEETPULSE_FUZZ_RUNS=${cases} node --test dist/node/ingest/*.fuzz.test.js).`,
      ],
      charts: [],
      headline: [`fuzz: ${failed.length === 0 ? 'pass' : 'FAIL'}, ${runs.length} properties × ${cases.toLocaleString('en-US')} cases (every decoder ≥ 100,000 in a full run)`],
    };
  },
};

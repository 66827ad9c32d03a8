/**
 * `npm run bench -- <scenario…|all> [--quick] [--out DIR] [--repeat N] [--duration S]`
 * Runs each scenario against the real stack (started through node/testing), with a live progress
 * line and a hard time limit per scenario, and writes DIR/<scenario>.json/.md and DIR/README.md.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { machine } from './lib/machine.js';
import { recordFailure, SCHEMA_VERSION, writeReport } from './lib/report.js';
import { durationFor, type BenchContext } from './lib/scenario.js';
import { scenarios } from './scenarios/index.js';

const HELP = `Usage: npm run bench -- <scenario…|all> [--quick] [--out DIR] [--repeat N] [--duration S]

Scenarios:
${scenarios.map((s) => `  ${s.name.padEnd(12)} ${s.description}`).join('\n')}

  --quick        every scenario briefly (smoke check; numbers are not comparable)
  --out DIR      where to write <scenario>.json/.md/.svg and README.md (default: results/)
  --repeat N     runs per variant, median reported (default 3; 1 with --quick)
  --duration S   measured seconds per run (default 10, soak 600; 1 with --quick)
`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: { quick: { type: 'boolean' }, out: { type: 'string' }, repeat: { type: 'string' }, duration: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (err) {
    // An unknown flag or a flag without its value: say which, not a stack trace.
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals.length === 0) {
    process.stdout.write(HELP);
    return positionals.length === 0 && values.help !== true ? 2 : 0;
  }
  const names = positionals.includes('all') ? scenarios.map((s) => s.name) : positionals;
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}\n\n${HELP}`);
    return 2;
  }
  const quick = values.quick === true;
  const repeat = Number(values.repeat ?? (quick ? 1 : 3));
  const explicitDurationS = values.duration === undefined ? undefined : Number(values.duration);
  if (!Number.isInteger(repeat) || repeat < 1 || (explicitDurationS !== undefined && !(explicitDurationS > 0))) {
    process.stderr.write('--repeat must be a positive integer and --duration a positive number of seconds\n');
    return 2;
  }
  const outDir = resolve(values.out ?? fileURLToPath(new URL('../../results/', import.meta.url)));
  mkdirSync(outDir, { recursive: true });
  const m = machine();
  process.stderr.write(`bench: ${m.cpuModel}, ${m.cores} cores, Node ${m.node}; out ${outDir}\n`);

  let failed = 0;
  for (const name of names) {
    const sc = scenarios.find((s) => s.name === name)!;
    const durationS = durationFor(sc, { quick, durationS: explicitDurationS });
    const limitS = sc.timeLimitS({ quick, durationS, repeat });
    const ac = new AbortController();
    const started = Date.now();
    const loadAtStart = Math.round(os.loadavg()[0]! * 100) / 100;
    const tty = process.stderr.isTTY;
    const ctx: BenchContext = {
      quick, durationS, repeat, outDir, signal: ac.signal,
      progress: (msg) => {
        const line = `[${name} ${((Date.now() - started) / 1000).toFixed(0)}s/${limitS}s] ${msg}`;
        process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      },
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        sc.run(ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            ac.abort();
            reject(new Error(`scenario ${name} passed its hard time limit of ${limitS} s`));
          }, limitS * 1000);
        }),
      ]);
      // Date and load per scenario: a long run spans minutes, and other work on the box shows in the load.
      const mScenario = { ...m, date: new Date(started).toISOString(), loadAverage1m: loadAtStart };
      writeReport(outDir, { schemaVersion: SCHEMA_VERSION, scenario: name, machine: mScenario, settings: { quick, repeat, durationS, ...(sc.runsNote === undefined ? {} : { note: sc.runsNote({ quick, durationS, repeat }) }) }, durationS: Math.round((Date.now() - started) / 1000), ...result }, scenarios.map((s) => s.name));
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}[${name}] done in ${((Date.now() - started) / 1000).toFixed(0)} s → ${outDir}/${name}.md\n`);
    } catch (err) {
      failed++;
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}[${name}] FAILED: ${(err as Error).message}\n`);
      // A failure is a result too: the index lists it (until the scenario succeeds again).
      recordFailure(outDir, { scenario: name, error: (err as Error).message.split('\n', 1)[0]!.slice(0, 500), date: new Date(started).toISOString(), gitCommit: m.gitCommit }, scenarios.map((s) => s.name));
    } finally {
      clearTimeout(timer);
    }
  }
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

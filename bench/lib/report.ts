/**
 * Bench output: DIR/<scenario>.json (raw, schema-versioned) and DIR/<scenario>.md (tables), plus
 * the regenerated DIR/README.md index with one section per scenario. Markdown shows the delta
 * against the previous result of the same scenario when it came from the same machine.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine } from './machine.js';

export const SCHEMA_VERSION = 1;

export interface Table {
  columns: string[];
  rows: Array<Array<string | number>>;
}

export interface ScenarioReport {
  schemaVersion: typeof SCHEMA_VERSION;
  scenario: string;
  title: string;
  params: Record<string, unknown>;
  machine: Machine;
  /** Every repeat of every variant, raw. */
  runs: Array<Record<string, unknown>>;
  /** Medians and ratios the tables are made of. */
  summary: Record<string, unknown>;
  tables: Array<{ title: string } & Table>;
  /** What the numbers show and why (a short paragraph each). */
  findings: string[];
  /** File names of SVG charts written beside the JSON. */
  charts: string[];
  /** One-line verdicts for the top of results/README.md (targets met or not), generated from the numbers. */
  headline?: string[];
  /** How the runner was invoked for this report (a --quick run is a smoke check, not a result). */
  settings?: { quick: boolean; repeat: number; durationS: number; note?: string };
  durationS: number;
}

export function fmt(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return '–';
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
    if (Math.abs(v) >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }
  return String(v);
}

function table(t: Table): string {
  const head = `| ${t.columns.join(' | ')} |\n| ${t.columns.map(() => '---').join(' | ')} |`;
  return `${head}\n${t.rows.map((r) => `| ${r.map(fmt).join(' | ')} |`).join('\n')}`;
}

export function machineLine(m: Machine): string {
  // Fields added after the first reports are optional when reading older JSON.
  const load = typeof m.loadAverage1m === 'number' ? `, load average ${m.loadAverage1m} at start` : '';
  const dirty = m.gitDirty === true ? ' (+ uncommitted changes)' : '';
  return `${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${m.node}, Caddy ${m.caddy ?? '–'}, Redis ${m.redis ?? '–'}, commit ${m.gitCommit ?? '–'}${dirty}, ${m.date}${load} (load generator on the same machine)`;
}

function settingsLine(r: ScenarioReport): string {
  const s = r.settings;
  if (s === undefined) return '';
  return s.quick ? `**--quick run (smoke check): sizes and durations are cut down; these numbers are not results.** ` : s.note !== undefined ? `${s.note} ` : `${s.repeat} repeats of ${s.durationS} s per variant. `;
}

export function renderMarkdown(r: ScenarioReport, previous?: ScenarioReport): string {
  const parts = [`# ${r.title}`, '', `${settingsLine(r)}Machine: ${machineLine(r.machine)}.`, '', `Params: \`${JSON.stringify(r.params)}\``, ''];
  for (const t of r.tables) parts.push(`## ${t.title}`, '', table(t), '');
  for (const c of r.charts) parts.push(`![${c}](${c})`, '');
  if (r.findings.length > 0) parts.push('## What the numbers say', '', ...r.findings.map((f) => `- ${f}`), '');
  if (previous !== undefined && previous.machine.cpuModel === r.machine.cpuModel && previous.machine.cores === r.machine.cores) {
    parts.push(`Previous run on this machine: ${previous.machine.date} (commit ${previous.machine.gitCommit ?? '–'}); compare the JSON files for the full delta.`, '');
  }
  return parts.join('\n');
}

export function writeReport(dir: string, r: ScenarioReport, order: readonly string[] = []): void {
  rmSync(join(dir, `${r.scenario}.failed.json`), { force: true });
  mkdirSync(dir, { recursive: true });
  const jsonPath = join(dir, `${r.scenario}.json`);
  let previous: ScenarioReport | undefined;
  if (existsSync(jsonPath)) {
    try {
      previous = JSON.parse(readFileSync(jsonPath, 'utf8')) as ScenarioReport;
    } catch {
      previous = undefined;
    }
  }
  writeFileSync(jsonPath, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, `${r.scenario}.md`), renderMarkdown(r, previous));
  writeIndex(dir, order);
}

/**
 * results/README.md: the headline verdicts, then one section per scenario JSON in the folder (in
 * `order`, the registry's, then any others by name) with every table, chart and finding.
 */
/** A scenario that failed (timed out, could not set up): listed in the index so a gap is visible. */
export interface FailureRecord {
  scenario: string;
  error: string;
  date: string;
  gitCommit: string | null;
}

export function recordFailure(dir: string, f: FailureRecord, order: readonly string[] = []): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${f.scenario}.failed.json`), `${JSON.stringify(f, null, 2)}\n`);
  writeIndex(dir, order);
}

export function writeIndex(dir: string, order: readonly string[] = []): void {
  const reports: ScenarioReport[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioReport;
      if (r.schemaVersion === SCHEMA_VERSION && typeof r.scenario === 'string') reports.push(r);
    } catch {
      // not a bench report
    }
  }
  const rank = (name: string): number => (order.includes(name) ? order.indexOf(name) : order.length);
  reports.sort((a, b) => rank(a.scenario) - rank(b.scenario) || a.scenario.localeCompare(b.scenario));
  const parts = [
    '# FleetPulse benchmark results',
    '',
    'Generated by `npm run bench`; each section links its full Markdown and raw JSON. All numbers come from one machine,',
    'with the load generator on the same machine as the servers, so ratios within one run matter more than absolute values.',
    '',
  ];
  const quick = reports.filter((r) => r.settings?.quick === true).map((r) => r.scenario);
  if (quick.length > 0) parts.push(`> **Smoke-check numbers:** ${quick.join(', ')} ${quick.length === 1 ? 'comes' : 'come'} from a \`--quick\` run (cut-down sizes and durations); do not read them as results.`, '');
  const headlines = reports.flatMap((r) => (r.headline ?? []).map((h) => `- ${h} ([${r.scenario}](${r.scenario}.md))`));
  if (headlines.length > 0) parts.push('## Headline', '', ...headlines, '');
  const failures: FailureRecord[] = readdirSync(dir)
    .filter((x) => x.endsWith('.failed.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as FailureRecord);
  if (failures.length > 0) {
    parts.push('## Scenarios that failed in their last run', '', ...failures.map((f) => `- **${f.scenario}** (${f.date}, commit ${f.gitCommit ?? '–'}): ${f.error}`), '');
  }
  parts.push('## Contents', '', ...reports.map((r) => `- [${r.title}](#${anchor(r.title)})`), '');
  for (const r of reports) {
    parts.push(`## ${r.title}`, '', `[${r.scenario}.md](${r.scenario}.md) · [${r.scenario}.json](${r.scenario}.json) · ${settingsLine(r)}${machineLine(r.machine)}`, '');
    for (const t of r.tables) parts.push(`### ${t.title}`, '', table(t), '');
    for (const c of r.charts) parts.push(`![${c}](${c})`, '');
    for (const f of r.findings) parts.push(`- ${f}`);
    parts.push('');
  }
  writeFileSync(join(dir, 'README.md'), parts.join('\n'));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function anchor(title: string): string {
  return title.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

/**
 * Problems with a parsed report file (empty when it has the fields every report must carry):
 * schema version, scenario, params, the machine record, runs, summary, tables, findings.
 */
export function checkReport(x: unknown): string[] {
  const errs: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(x)) return ['not an object'];
  if (x.schemaVersion !== SCHEMA_VERSION) errs.push(`schemaVersion is ${JSON.stringify(x.schemaVersion)}, expected ${SCHEMA_VERSION}`);
  for (const k of ['scenario', 'title'] as const) if (typeof x[k] !== 'string' || x[k] === '') errs.push(`${k} must be a non-empty string`);
  for (const k of ['params', 'summary', 'machine'] as const) if (!isObj(x[k])) errs.push(`${k} must be an object`);
  for (const k of ['runs', 'tables', 'findings', 'charts'] as const) if (!Array.isArray(x[k])) errs.push(`${k} must be an array`);
  if (typeof x.durationS !== 'number') errs.push('durationS must be a number');
  const m = x.machine;
  if (isObj(m)) {
    for (const k of ['cpuModel', 'node', 'platform', 'date'] as const) if (typeof m[k] !== 'string' || m[k] === '') errs.push(`machine.${k} must be a non-empty string`);
    for (const k of ['cores', 'memoryBytes'] as const) if (typeof m[k] !== 'number' || !((m[k] as number) > 0)) errs.push(`machine.${k} must be a positive number`);
    // Versions and the commit are null when the tool (or git) is missing, never absent.
    for (const k of ['caddy', 'redis', 'gitCommit', 'h2load', 'victoriaMetrics'] as const) if (!(k in m) || (m[k] !== null && typeof m[k] !== 'string')) errs.push(`machine.${k} must be a string or null`);
    if (Number.isNaN(Date.parse(String(m.date)))) errs.push('machine.date must be an ISO date');
  }
  if (Array.isArray(x.tables)) {
    x.tables.forEach((t: unknown, i) => {
      if (!isObj(t) || typeof t.title !== 'string' || !Array.isArray(t.columns) || !Array.isArray(t.rows)) errs.push(`tables[${i}] must have title, columns, rows`);
      else if (t.rows.some((r) => !Array.isArray(r) || r.length !== (t.columns as unknown[]).length)) errs.push(`tables[${i}]: every row needs one cell per column`);
    });
  }
  return errs;
}

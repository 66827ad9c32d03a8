/**
 * Reading a Prometheus text exposition (our admin /metrics) and the metrics catalogue
 * (docs/metrics.md) in tests and benches. Small on purpose: enough of the format we emit
 * (prom-client's text output), not a general parser.
 */

export interface PromSample {
  /** Series name as written (histograms: `…_bucket`, `…_sum`, `…_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromExposition {
  /** Metric family → its `# TYPE`. */
  types: Map<string, string>;
  /** Metric family → its `# HELP` text. */
  help: Map<string, string>;
  samples: PromSample[];
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): PromExposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (name !== undefined && type !== undefined) types.set(name, type);
      continue;
    }
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const i = rest.indexOf(' ');
      help.set(i === -1 ? rest : rest.slice(0, i), i === -1 ? '' : rest.slice(i + 1));
      continue;
    }
    if (line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = brace === -1 ? line.slice(0, line.indexOf(' ')) : line.slice(0, brace);
    const labels: Record<string, string> = {};
    if (brace !== -1) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(LABEL)) labels[m[1]!] = m[2]!;
    }
    samples.push({ name, labels, value: Number(line.slice(space + 1)) });
  }
  return { types, help, samples };
}

/** The metric family a series belongs to (strips histogram/summary suffixes known from `# TYPE`). */
export function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return name;
}

/** Sum of every series named `name` whose labels include `match`. */
export function sumSeries(text: string | PromExposition, name: string, match: Record<string, string> = {}): number {
  const e = typeof text === 'string' ? parseExposition(text) : text;
  let total = 0;
  for (const s of e.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

export interface CatalogueEntry {
  name: string;
  type: string;
  /** Label names documented for the metric (besides the implicit `worker` and `le`). */
  labels: string[];
  merge: string;
  description: string;
}

/**
 * The rows of docs/metrics.md: `| \`name\` | type | labels | merge | description |`. Label values
 * are written in parentheses after a label (`transport` (`http`, `ws`)) and are not label names.
 */
export function parseCatalogue(markdown: string): Map<string, CatalogueEntry> {
  const out = new Map<string, CatalogueEntry>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`(fleetpulse_[a-z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|(.*)\|\s*$/.exec(line);
    if (m === null) continue;
    const labels = [...m[3]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((x) => x[1]!);
    const name = m[1]!;
    if (out.has(name)) throw new Error(`docs/metrics.md lists ${name} twice`);
    out.set(name, { name, type: m[2]!.trim(), labels, merge: m[4]!.trim(), description: m[5]!.trim() });
  }
  return out;
}

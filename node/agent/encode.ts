/**
 * One simulated host: its signals (shapes.ts) and the JSON of one tick, in the wide form grouped
 * by unit and kind (`{"source","ts","unit","kind"?,"metrics":{…}}`), which is the most compact
 * shape the ingest accepts. String pieces are built once per host, so a tick is a few concats.
 */
import { HostSignals, metricCatalogue, ROLES, type MetricDef, type Role } from './shapes.js';

interface Group {
  /** `,"unit":"%","metrics":{` (with `"kind":"counter"` for counters). */
  head: string;
  indices: number[];
  /** `"cpu":` etc., one per index. */
  keys: string[];
  counter: boolean;
}

export class SimulatedHost {
  readonly source: string;
  readonly role: Role;
  readonly metrics: number;
  readonly #signals: HostSignals;
  readonly #prefix: string;
  readonly #groups: Group[];

  constructor(source: string, index: number, catalogue: readonly MetricDef[], dayMs: number) {
    this.source = source;
    this.role = ROLES[index % ROLES.length]!;
    this.metrics = catalogue.length;
    this.#signals = new HostSignals(source, this.role, catalogue.length, dayMs);
    this.#prefix = `{"source":${JSON.stringify(source)},"ts":`;
    const byKey = new Map<string, Group>();
    catalogue.forEach((m, i) => {
      const key = `${m.unit}\u0000${m.kind}`;
      let g = byKey.get(key);
      if (g === undefined) {
        const unit = m.unit === '' ? '' : `,"unit":${JSON.stringify(m.unit)}`;
        const kind = m.kind === 'counter' ? ',"kind":"counter"' : '';
        g = { head: `${unit}${kind},"metrics":{`, indices: [], keys: [], counter: m.kind === 'counter' };
        byKey.set(key, g);
      }
      g.indices.push(i);
      g.keys.push(`${JSON.stringify(m.name)}:`);
    });
    this.#groups = [...byKey.values()];
  }

  /** Advance the host to `ts` and append its tick's wide objects to `out`; returns the sample count. */
  tick(ts: number, out: string[]): number {
    const v = this.#signals.step(ts);
    const pre = this.#prefix + ts;
    for (const g of this.#groups) {
      let s = pre + g.head;
      for (let j = 0; j < g.indices.length; j++) {
        const x = v[g.indices[j]!]!;
        s += (j === 0 ? '' : ',') + g.keys[j]! + (g.counter ? Math.round(x) : Math.round(x * 100) / 100);
      }
      out.push(s + '}}');
    }
    return this.metrics;
  }
}

/** Host names: `<role>-<n>` (web-0001, db-0003, …), or `<prefix><n>` when a prefix is given. */
export function hostName(index: number, total: number, prefix: string | undefined): string {
  const n = String(index + 1).padStart(Math.max(4, String(total).length), '0');
  return prefix === undefined ? `${ROLES[index % ROLES.length]}-${n}` : `${prefix}${n}`;
}

export { metricCatalogue };

/** Number and time formatting for tiles, legends and tables. Pure. */

/** 3 significant digits with k/M/G suffixes; null → '–'. */
export function formatValue(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  let s: string;
  if (a >= 1e9) s = `${trim(v / 1e9)}G`;
  else if (a >= 1e6) s = `${trim(v / 1e6)}M`;
  else if (a >= 1e4) s = `${trim(v / 1e3)}k`;
  else s = trim(v);
  return unit === '' ? s : `${s} ${unit}`;
}

function trim(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 0.01) return v.toFixed(2).replace(/\.?0+$/, '');
  return v.toPrecision(2);
}

/** Seconds → '850 ms', '1.2 s', '3 min', '2.5 h'. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${trim(s)} s`;
  if (s < 3600) return `${trim(s / 60)} min`;
  if (s < 86_400) return `${trim(s / 3600)} h`;
  return `${trim(s / 86_400)} d`;
}

/** A histogram bound for a label: 0.025 → '25 ms', -1 → '+Inf'. */
export function formatBound(le: number): string {
  return le < 0 ? '+Inf' : formatSeconds(le);
}

/** Quantile (0–1) from per-bucket counts and their upper bounds (-1 = +Inf): the bound of the bucket that holds it. */
export function histogramQuantile(le: readonly number[], counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    acc += counts[i]!;
    if (acc >= rank) return le[i]! < 0 ? Infinity : le[i]!;
  }
  return Infinity;
}

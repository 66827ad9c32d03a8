/**
 * Plain-SVG horizontal bar charts for bench results (no runtime dependency; renders anywhere
 * GitHub/Markdown shows images). Text is escaped; sizes are fixed so diffs stay readable.
 */

export interface Bar {
  label: string;
  value: number;
  /** Optional error range (min..max across repeats). */
  min?: number;
  max?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function human(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v >= 10 ? v.toFixed(0) : v.toFixed(2);
}

export function barChart(title: string, unit: string, bars: readonly Bar[]): string {
  const labelW = 260;
  const chartW = 420;
  const rowH = 26;
  const top = 34;
  const height = top + bars.length * rowH + 16;
  const maxV = Math.max(1e-9, ...bars.map((b) => b.max ?? b.value));
  const x = (v: number): number => labelW + (v / maxV) * chartW;
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, x(b.value) - labelW);
    const err = b.min !== undefined && b.max !== undefined ? `<line x1="${x(b.min).toFixed(1)}" x2="${x(b.max).toFixed(1)}" y1="${y + 9}" y2="${y + 9}" stroke="#333" stroke-width="1.5"/>` : '';
    return `<text x="${labelW - 8}" y="${y + 13}" text-anchor="end">${esc(b.label)}</text><rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="15" fill="#3b82f6"/>${err}<text x="${(x(b.max ?? b.value) + 6).toFixed(1)}" y="${y + 14}">${esc(human(b.value))} ${esc(unit)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + chartW + 130}" height="${height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/><text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>${rows.join('')}</svg>\n`;
}

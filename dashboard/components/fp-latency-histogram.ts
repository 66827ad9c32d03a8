/**
 * <fp-latency-histogram>: a latency histogram (per-bucket counts over the last minute) as SVG
 * bars, with p50/p99 read from the buckets.
 * @property heading
 * @property data - { le, counts, count, sum } (LatencyHistogram from node/protocol/events.ts)
 */
import { LitElement, css, html, svg } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { LatencyHistogram } from '../../node/protocol/events.js';
import { formatBound, formatSeconds, histogramQuantile } from '../lib/format.js';

const W = 420;
const H = 120;

@customElement('fp-latency-histogram')
export class FpLatencyHistogram extends LitElement {
  static override styles = css`
    :host { display: block; background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 8px; padding: 10px 14px; }
    h3 { margin: 0 0 4px; font-size: 14px; }
    .stats { color: var(--fp-muted); font-size: 12px; margin-bottom: 6px; font-variant-numeric: tabular-nums; }
    svg { width: 100%; height: auto; display: block; }
    rect { fill: var(--fp-accent); }
    text { fill: var(--fp-muted); font-size: 9px; }
  `;

  @property() heading = '';
  @property({ attribute: false }) data: LatencyHistogram | undefined;

  override render() {
    const d = this.data;
    const counts = d?.counts ?? [];
    const max = Math.max(1, ...counts);
    const bw = counts.length === 0 ? 0 : W / counts.length;
    // Labels like '150 ms' need ~34 units at 9px: narrower bars get their labels on two staggered rows.
    const stagger = bw < 34;
    const q = (p: number): string => {
      const v = d === undefined ? null : histogramQuantile(d.le, d.counts, p);
      return v === null ? '–' : v === Infinity ? `> ${formatBound(d!.le.at(-2) ?? 0)}` : `≤ ${formatSeconds(v)}`;
    };
    return html`
      <h3>${this.heading}</h3>
      <div class="stats">${d?.count ?? 0} samples in the last minute · p50 ${q(0.5)} · p99 ${q(0.99)}${d !== undefined && d.count > 0 ? ` · mean ${formatSeconds(d.sum / d.count)}` : ''}</div>
      <svg viewBox="0 0 ${W} ${H + (stagger ? 25 : 14)}" role="img" aria-label="${this.heading} histogram">
        ${counts.map((c, i) => {
          const h = (c / max) * H;
          return svg`<rect x=${i * bw + 1} y=${H - h} width=${Math.max(1, bw - 2)} height=${h}><title>${formatBound(d!.le[i] ?? -1)}: ${c}</title></rect>
            <text x=${i * bw + bw / 2} y=${H + (stagger && i % 2 === 1 ? 22 : 11)} text-anchor="middle">${formatBound(d!.le[i] ?? -1)}</text>`;
        })}
      </svg>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-latency-histogram': FpLatencyHistogram;
  }
}

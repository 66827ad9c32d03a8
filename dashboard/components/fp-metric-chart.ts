/**
 * <fp-metric-chart>: a live time-series chart (uPlot) of one or more series from a
 * SeriesController, with a legend of current values rendered by Lit (names as text). The chart
 * redraws when the controller reports a change (at most once per animation frame) and slides its
 * window with the clock.
 * @property data - the SeriesController to draw
 * @property labels - one label per series
 * @property unit - unit of the values
 * @property heading - title above the chart
 */
import { LitElement, css, html, unsafeCSS, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { cssomStyle } from './cssom-style.js';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { SeriesController } from '../controllers/series-controller.js';
import { Field, latestPoint, toColumns, fieldOf } from '../lib/series-store.js';
import { formatValue } from '../lib/format.js';

const HEIGHT = 220;

@customElement('fp-metric-chart')
export class FpMetricChart extends LitElement {
  static override styles = [
    // uPlot's own stylesheet, from our bundle (static CSS, not data), into this shadow root.
    unsafeCSS(uplotCss),
    css`
      :host { display: block; background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 8px; padding: 10px 12px; }
      h3 { margin: 0 0 6px; font-size: 14px; font-weight: 600; }
      .plot { min-height: ${HEIGHT}px; }
      .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; font-size: 12px; }
      .item { display: inline-flex; align-items: center; gap: 6px; }
      .sw { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
      .v { font-variant-numeric: tabular-nums; font-weight: 600; }
      .muted { color: var(--fp-muted); }
      .u-legend { display: none; }
    `,
  ];

  @property({ attribute: false }) data: SeriesController | undefined;
  @property({ attribute: false }) labels: string[] = [];
  @property() unit = '';
  @property() heading = '';
  @state() private tick = 0;
  @query('.plot') private plotEl!: HTMLDivElement;
  #plot: uPlot | undefined;
  #seriesCount = -1;
  #resize: ResizeObserver | undefined;
  #clock = 0;
  readonly #onChange = (): void => this.#redraw();
  readonly #onTheme = (): void => this.#rebuild();

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('fp-theme', this.#onTheme);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', this.#onTheme);
    // Slide the window even when no sample arrives (a dead source's line must move left).
    this.#clock = window.setInterval(() => this.#redraw(), 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('fp-theme', this.#onTheme);
    matchMedia('(prefers-color-scheme: dark)').removeEventListener('change', this.#onTheme);
    clearInterval(this.#clock);
    this.data?.removeEventListener('change', this.#onChange);
    this.#resize?.disconnect();
    this.#plot?.destroy();
    this.#plot = undefined;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('data')) {
      const old = changed.get('data');
      old?.removeEventListener('change', this.#onChange);
      this.data?.addEventListener('change', this.#onChange);
      this.#rebuild();
    } else if (changed.has('labels')) this.#rebuild();
    if (this.#resize === undefined && this.plotEl !== undefined) {
      this.#resize = new ResizeObserver(() => this.#plot?.setSize({ width: this.#width(), height: HEIGHT }));
      this.#resize.observe(this);
    }
  }

  /** Every bucket in the window: [start, count, sum] per series (tests compare it with the REST answer). */
  points(): Array<Array<[number, number, number]>> {
    const d = this.data;
    if (d === undefined) return [];
    const now = Date.now();
    const first = Math.ceil((now - d.rangeMs) / d.stepMs) * d.stepMs;
    return d.series.map((s) => {
      const out: Array<[number, number, number]> = [];
      for (let t = first; t <= now; t += d.stepMs) {
        const p = s.get(t);
        if (p !== undefined) out.push([p[0], p[1], p[2]]);
      }
      return out;
    });
  }

  #width(): number {
    return Math.max(200, (this.plotEl?.clientWidth ?? this.clientWidth) || 600);
  }

  #color(i: number): string {
    return getComputedStyle(this).getPropertyValue(`--fp-series-${i % 8}`).trim() || '#1971c2';
  }

  #rebuild(): void {
    this.#plot?.destroy();
    this.#plot = undefined;
    this.#seriesCount = -1;
    this.#redraw();
  }

  #redraw(): void {
    const d = this.data;
    if (d === undefined || this.plotEl === undefined) return;
    const now = Date.now();
    d.trim(now);
    const cols = toColumns(d.series, now - d.rangeMs, now, d.stepMs, Field.Avg);
    if (this.#plot === undefined || this.#seriesCount !== d.series.length) {
      this.#plot?.destroy();
      const cs = getComputedStyle(this);
      const fg = cs.getPropertyValue('--fp-muted').trim() || '#666';
      const grid = cs.getPropertyValue('--fp-grid').trim() || 'rgba(0,0,0,.1)';
      const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      this.#plot = new uPlot(
        {
          width: this.#width(),
          height: HEIGHT,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [axis, { ...axis, size: 56, values: (_u, vals) => vals.map((v) => formatValue(v)) }],
          series: [{}, ...d.series.map((_, i) => ({ label: this.labels[i] ?? `series ${i}`, stroke: this.#color(i), width: 1.5, spanGaps: false, points: { show: false } }))],
        },
        cols as uPlot.AlignedData,
        this.plotEl,
      );
      this.#seriesCount = d.series.length;
    } else this.#plot.setData(cols as uPlot.AlignedData);
    this.tick++;
  }

  override render() {
    const d = this.data;
    return html`
      ${this.heading === '' ? '' : html`<h3>${this.heading}</h3>`}
      <div class="plot" role="img" aria-label="Chart: ${this.heading || this.labels.join(', ')}"></div>
      <div class="legend" aria-live="off">
        ${(d?.series ?? []).map((s, i) => {
          const p = latestPoint(s);
          return html`<span class="item" data-series=${this.labels[i] ?? ''}>
            <span class="sw" ${cssomStyle({ background: this.#color(i) })}></span>
            <span>${this.labels[i] ?? ''}</span>
            <span class="v" data-testid="current">${formatValue(p === undefined ? null : fieldOf(p, Field.Last), this.unit)}</span>
          </span>`;
        })}
        ${d !== undefined && d.error !== '' ? html`<span class="muted">${d.error}</span>` : ''}
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-metric-chart': FpMetricChart;
  }
}

/**
 * <fp-source-view>: every metric of one source, live, one chart each. An unknown source (or a
 * crafted link) is named back literally, as text.
 * @property source - the source (from the URL, as typed)
 * @property range - the time range
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { MetricAnswer, SourceAnswer } from '../../node/state/store.js';
import { MetricsStreamController } from '../controllers/metrics-stream-controller.js';
import { SeriesController } from '../controllers/series-controller.js';
import { RANGES, isSourceName, type Range, type Route } from '../lib/route.js';
import { api } from '../api.js';
import { panelStyles } from './shared-styles.js';
import './fp-metric-chart.js';
import './fp-source-picker.js';

@customElement('fp-source-view')
export class FpSourceView extends LitElement {
  static override styles = [
    panelStyles,
    css`
      .toolbar { margin-bottom: 12px; }
      .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
      .status { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; border: 1px solid var(--fp-border); }
      .status.live { color: var(--fp-ok); }
      .status.stale { color: var(--fp-warn); }
      h1 { font-size: 18px; margin: 0; }
    `,
  ];

  @property() source = '';
  @property() range: Range = '5m';
  @state() private info: SourceAnswer | undefined;
  @state() private all: SourceAnswer[] = [];
  @state() private loaded = false;
  @state() private units = new Map<string, string>();
  readonly #stream = new MetricsStreamController(this, {
    onDisconnect: () => this.#charts.forEach((c) => c.markDisconnected()),
    onResync: () => this.#charts.forEach((c) => c.resync()),
  });
  #charts: SeriesController[] = [];

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    for (const c of this.#charts) c.clear();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('source') || changed.has('range')) void this.#load();
  }

  async #load(): Promise<void> {
    this.loaded = false;
    for (const c of this.#charts) c.clear();
    this.#charts = [];
    try {
      const [sources, metrics] = await Promise.all([api.sources(), api.metrics()]);
      this.all = sources;
      this.units = new Map(metrics.map((m: MetricAnswer) => [m.metric, m.unit]));
      this.info = sources.find((s) => s.source === this.source);
    } catch {
      this.info = undefined;
    }
    const info = this.info;
    if (info !== undefined) {
      this.#charts = [...info.metrics].sort().map((metric) => {
        const c = new SeriesController(this.#stream);
        void c.set([{ metric, source: info.source }], this.range);
        return c;
      });
    }
    this.loaded = true;
  }

  #go(d: Partial<Route>): void {
    this.dispatchEvent(new CustomEvent('fp-navigate', { detail: d, bubbles: true, composed: true }));
  }

  override render() {
    const info = this.info;
    const picker = html`<fp-source-picker .sources=${this.all.map((s) => s.source).sort()} .selected=${[this.source]}
      @fp-pick=${(e: CustomEvent<{ source: string }>) => this.#go({ source: e.detail.source })}></fp-source-picker>`;
    if (this.source === '') return html`<div class="panel"><h2>Pick a source</h2>${picker}</div>`;
    if (info === undefined) {
      return html`<div class="panel">
        <h2>${this.loaded ? 'No such source' : 'Loading…'}</h2>
        ${this.loaded ? html`<p id="missing">No source named “<span class="name">${this.source}</span>”${isSourceName(this.source) ? ' has sent samples yet' : ' (not a valid source name)'}.</p>` : ''}
        ${picker}
      </div>`;
    }
    return html`
      <div class="row toolbar">
        <h1 id="title">${info.source}</h1>
        <span class="status ${info.status}">${info.status}</span>
        <span class="muted">${info.metrics.length} metrics</span>
        <span class="ranges" role="group" aria-label="Time range">
          ${RANGES.map((r) => html`<button type="button" aria-pressed=${r === this.range ? 'true' : 'false'} @click=${() => this.#go({ range: r })}>${r}</button>`)}
        </span>
        ${picker}
      </div>
      <div class="charts">
        ${this.#charts.map((c) => {
          const metric = c.keys[0]?.metric ?? '';
          return html`<fp-metric-chart data-metric=${metric} .data=${c} .labels=${[info.source]} .unit=${this.units.get(metric) ?? ''} heading=${metric}></fp-metric-chart>`;
        })}
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-source-view': FpSourceView;
  }
}

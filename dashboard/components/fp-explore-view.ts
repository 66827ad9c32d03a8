/**
 * <fp-explore-view>: pick a metric and sources (search as you type), see them live on one chart
 * over 1m / 5m / 15m / 1h / 6h with a legend of current values. Everything is in the URL.
 * @property metric, sources, range - from the route
 * @property metrics - every known metric (the picker)
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { MetricAnswer } from '../../node/state/store.js';
import { MetricsStreamController } from '../controllers/metrics-stream-controller.js';
import { SeriesController } from '../controllers/series-controller.js';
import { RANGES, type Range, type Route } from '../lib/route.js';
import { api } from '../api.js';
import { panelStyles } from './shared-styles.js';
import './fp-metric-chart.js';
import './fp-source-picker.js';

@customElement('fp-explore-view')
export class FpExploreView extends LitElement {
  static override styles = [
    panelStyles,
    css`
      .toolbar { margin-bottom: 12px; }
      .chip { display: inline-flex; align-items: center; gap: 4px; padding: 2px 4px 2px 10px; border: 1px solid var(--fp-border); border-radius: 999px; background: var(--fp-panel); }
      .chip button { border: none; padding: 0 6px; background: transparent; }
      .ranges { display: inline-flex; gap: 4px; }
    `,
  ];

  @property() metric = '';
  @property({ attribute: false }) sources: string[] = [];
  @property() range: Range = '5m';
  @property({ attribute: false }) metrics: MetricAnswer[] = [];
  @state() private allSources: string[] = [];
  readonly #stream = new MetricsStreamController(this, { onDisconnect: () => this.#series.markDisconnected(), onResync: () => this.#series.resync() });
  readonly #series = new SeriesController(this.#stream);

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#loadSources();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#series.clear();
  }

  async #loadSources(): Promise<void> {
    try {
      const list = await api.sources();
      this.allSources = list.filter((s) => this.metric === '' || s.metrics.includes(this.metric)).map((s) => s.source).sort();
      // Nothing picked yet: show a few sources so the chart is never empty on a first visit.
      if (this.sources.length === 0 && this.allSources.length > 0) this.#go({ sources: this.allSources.slice(0, 3) });
    } catch {
      /* the picker stays empty; the chart still works for sources in the URL */
    }
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('metric') && changed.get('metric') !== undefined) void this.#loadSources();
    if (changed.has('metric') || changed.has('sources') || changed.has('range')) {
      void this.#series.set(this.metric === '' ? [] : this.sources.map((source) => ({ metric: this.metric, source })), this.range);
    }
  }

  #go(d: Partial<Route>): void {
    this.dispatchEvent(new CustomEvent('fp-navigate', { detail: d, bubbles: true, composed: true }));
  }

  override render() {
    const unit = this.metrics.find((m) => m.metric === this.metric)?.unit ?? '';
    return html`
      <div class="row toolbar">
        <label>Metric
          <select aria-label="Metric" @change=${(e: Event) => this.#go({ metric: (e.target as HTMLSelectElement).value })}>
            ${this.metrics.map((m) => html`<option value=${m.metric} ?selected=${m.metric === this.metric}>${m.metric}</option>`)}
          </select>
        </label>
        <fp-source-picker .sources=${this.allSources} .selected=${this.sources}
          @fp-pick=${(e: CustomEvent<{ source: string }>) => this.#go({ sources: [...this.sources, e.detail.source].slice(0, 20) })}></fp-source-picker>
        <span class="ranges" role="group" aria-label="Time range">
          ${RANGES.map((r) => html`<button type="button" aria-pressed=${r === this.range ? 'true' : 'false'} @click=${() => this.#go({ range: r })}>${r}</button>`)}
        </span>
      </div>
      <div class="row toolbar" aria-label="Selected sources">
        ${this.sources.map(
          (s) => html`<span class="chip">${s}<button type="button" aria-label="Remove ${s}" @click=${() => this.#go({ sources: this.sources.filter((x) => x !== s) })}>×</button></span>`,
        )}
      </div>
      <fp-metric-chart .data=${this.#series} .labels=${[...this.sources]} .unit=${unit} heading=${`${this.metric} · last ${this.range}`}></fp-metric-chart>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-explore-view': FpExploreView;
  }
}

/**
 * <fp-fleet-view>: the whole fleet for one metric — heat map of every source, stat tiles
 * (live/stale sources, ingest samples/s, fleet avg/p50/p99) and top/bottom 10. Joins the metric's
 * fleet room: `update` feeds the heat map, `summary` (1/s, computed once in the cluster) the
 * tiles and lists. The source list over REST seeds the map (and staleness) every 30 s.
 * @property metric - the metric shown
 * @property metrics - every known metric (the picker)
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { MetricAnswer } from '../../node/state/store.js';
import { MetricsStreamController } from '../controllers/metrics-stream-controller.js';
import { FleetModel } from '../lib/fleet-model.js';
import { formatValue } from '../lib/format.js';
import { View } from '../lib/route.js';
import { api } from '../api.js';
import { panelStyles } from './shared-styles.js';
import type { FpHeatmap } from './fp-heatmap.js';
import './fp-heatmap.js';
import './fp-stat-tile.js';
import './fp-rank-list.js';

@customElement('fp-fleet-view')
export class FpFleetView extends LitElement {
  static override styles = [
    panelStyles,
    css`
      .toolbar { margin-bottom: 12px; }
      .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; margin-bottom: 12px; }
      .main { display: grid; grid-template-columns: minmax(0, 1fr) 260px; gap: 12px; align-items: start; }
      .side { display: grid; gap: 12px; }
      @media (max-width: 900px) { .main { grid-template-columns: 1fr; } }
    `,
  ];

  @property() metric = '';
  @property({ attribute: false }) metrics: MetricAnswer[] = [];
  @state() private counts = { live: 0, stale: 0 };
  @query('fp-heatmap') private heatmap!: FpHeatmap;
  readonly #stream = new MetricsStreamController(this, { summaries: true, cluster: true, onResync: () => void this.#loadSources() });
  #model = new FleetModel();
  #leave: (() => void) | undefined;
  #timer = 0;

  override connectedCallback(): void {
    super.connectedCallback();
    this.#timer = window.setInterval(() => {
      this.counts = this.#model.counts(Date.now());
      this.heatmap?.invalidate();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#timer);
    this.#leave?.();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('metric')) void this.#watch();
  }

  async #watch(): Promise<void> {
    this.#leave?.();
    this.#leave = undefined;
    this.#model = new FleetModel();
    const metric = this.metric;
    if (metric === '') return;
    const leave = await this.#stream.subscribe({ metric }, (u) => {
      if (u.k !== 'fleet') return;
      if (this.#model.applyFleet(u.source, u.starts, u.last, Date.now()) > 0) this.heatmap?.invalidate();
    });
    if (metric !== this.metric) return leave();
    this.#leave = leave;
    await this.#loadSources();
  }

  async #loadSources(): Promise<void> {
    try {
      const list = await api.sources();
      const metric = this.metric;
      this.#model.setSources(list.filter((s) => s.metrics.includes(metric)), Date.now(), this.#stream.connection?.clockOffsetMs ?? 0);
      this.counts = this.#model.counts(Date.now());
      this.heatmap?.invalidate();
    } catch {
      /* the live feed still fills the map */
    }
  }

  #open(source: string): void {
    this.dispatchEvent(new CustomEvent('fp-navigate', { detail: { view: View.Source, source }, bubbles: true, composed: true }));
  }

  override render() {
    const s = this.#stream.summary(this.metric);
    const unit = this.metrics.find((m) => m.metric === this.metric)?.unit ?? '';
    const rate = this.#stream.cluster?.samplesPerSec;
    return html`
      <div class="row toolbar">
        <label>Metric
          <select aria-label="Metric" @change=${(e: Event) => this.dispatchEvent(new CustomEvent('fp-navigate', { detail: { metric: (e.target as HTMLSelectElement).value }, bubbles: true, composed: true }))}>
            ${this.metrics.map((m) => html`<option value=${m.metric} ?selected=${m.metric === this.metric}>${m.metric}</option>`)}
          </select>
        </label>
        <span class="muted">${this.metrics.length === 0 ? 'No metrics yet' : `fleet view of ${this.metric}, last value per source over 10 s`}</span>
      </div>
      <div class="tiles">
        <fp-stat-tile id="live" label="Live sources" tone="ok" .value=${String(this.counts.live)}></fp-stat-tile>
        <fp-stat-tile id="stale" label="Stale sources" tone=${this.counts.stale > 0 ? 'warn' : 'muted'} .value=${String(this.counts.stale)}></fp-stat-tile>
        <fp-stat-tile id="rate" label="Ingest samples/s" .value=${formatValue(rate ?? null)}></fp-stat-tile>
        <fp-stat-tile id="avg" label="Fleet avg" .value=${formatValue(s?.avg ?? null, unit)}></fp-stat-tile>
        <fp-stat-tile id="p50" label="p50" .value=${formatValue(s?.p50 ?? null, unit)}></fp-stat-tile>
        <fp-stat-tile id="p99" label="p99" .value=${formatValue(s?.p99 ?? null, unit)}></fp-stat-tile>
      </div>
      <div class="main">
        <div class="panel">
          <h2>Sources by ${this.metric}</h2>
          <fp-heatmap .model=${this.#model} .unit=${unit} @fp-open-source=${(e: CustomEvent<{ source: string }>) => this.#open(e.detail.source)}></fp-heatmap>
        </div>
        <div class="side" @fp-open-source=${(e: CustomEvent<{ source: string }>) => this.#open(e.detail.source)}>
          <fp-rank-list id="top" heading="Top 10" .unit=${unit} .rows=${s?.top ?? []}></fp-rank-list>
          <fp-rank-list id="bottom" heading="Bottom 10" .unit=${unit} .rows=${s?.bottom ?? []}></fp-rank-list>
        </div>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-fleet-view': FpFleetView;
  }
  interface HTMLElementEventMap {
    'fp-open-source': CustomEvent<{ source: string }>;
  }
}

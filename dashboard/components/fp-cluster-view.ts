/**
 * <fp-cluster-view>: the workers (pid, uptime, samples/s, connections, forwarded share, live
 * clients), balancer, state mode, Redis status and live adapter, and the live latency histograms
 * (sample → broadcast, and sample → screen as browsers report it). Fed by `cluster` every 2 s.
 */
import { LitElement, css, html } from 'lit';
import type { LiveCluster } from '../../node/protocol/events.js';
import { customElement } from 'lit/decorators.js';
import { MetricsStreamController } from '../controllers/metrics-stream-controller.js';
import { formatSeconds, formatValue } from '../lib/format.js';
import { panelStyles } from './shared-styles.js';
import './fp-latency-histogram.js';
import './fp-stat-tile.js';

@customElement('fp-cluster-view')
export class FpClusterView extends LitElement {
  static override styles = [
    panelStyles,
    css`
      .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin-bottom: 12px; }
      table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
      th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid var(--fp-border); }
      th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
      th { color: var(--fp-muted); font-weight: 600; font-size: 12px; }
      #series-limit { margin-top: 12px; border-color: var(--fp-warn); }
      .hists { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; margin-top: 12px; }
    `,
  ];

  readonly #stream = new MetricsStreamController(this, { cluster: true });

  /** The series limit (state.maxSeries): who hit it, so an operator knows whom to ask. */
  #seriesLimit(workers: LiveCluster['workers']) {
    const m = mergeSeriesLimit(workers);
    if (m.rejections === 0) return '';
    return html`<div class="panel" id="series-limit" role="alert">
      <h2>Series limit reached</h2>
      <p class="muted">${formatValue(m.rejections)} batches refused with 429 <code>series_limit</code> (state.maxSeries). Most recent sources:</p>
      <table>
        <thead><tr><th>Source</th><th>Workers</th><th>Last refused</th><th>Refusals</th></tr></thead>
        <tbody>${m.sources.map((h) => html`<tr data-source=${h.source}><td>${h.source}</td><td>${h.workers.join(', ')}</td><td>${new Date(h.at).toLocaleTimeString()}</td><td>${h.count}</td></tr>`)}</tbody>
      </table>
    </div>`;
  }

  override render() {
    const c = this.#stream.cluster;
    if (c === undefined) return html`<div class="panel"><h2>Cluster</h2><p class="muted">Waiting for the cluster status (every 2 s)…</p></div>`;
    return html`
      <div class="tiles">
        <fp-stat-tile id="workers" label="Workers" .value=${String(c.workers.length)}></fp-stat-tile>
        <fp-stat-tile id="rate" label="Samples/s" .value=${formatValue(c.samplesPerSec)}></fp-stat-tile>
        <fp-stat-tile id="balancer" label="Balancer" .value=${c.balancer}></fp-stat-tile>
        <fp-stat-tile id="state" label="State" .value=${c.state}></fp-stat-tile>
        <fp-stat-tile id="redis" label="Redis" tone=${c.redis === 'down' ? 'warn' : c.redis === 'up' ? 'ok' : 'muted'} .value=${c.redis}></fp-stat-tile>
        <fp-stat-tile id="adapter" label="Live adapter" .value=${c.adapter}></fp-stat-tile>
      </div>
      <div class="panel">
        <h2>Workers</h2>
        <table>
          <thead><tr><th>Worker</th><th>Address</th><th>PID</th><th>Uptime</th><th>Samples/s</th><th>Connections</th><th>Forwarded</th><th>Series</th><th>Live clients</th><th>Updates/s</th></tr></thead>
          <tbody>
            ${c.workers.map(
              (w) => html`<tr data-worker=${w.id}>
                <td>${w.id}</td><td>${w.address}</td><td>${w.pid}</td><td>${formatSeconds(w.uptimeS)}</td><td>${formatValue(w.samplesPerSec)}</td>
                <td>${w.connections}</td><td>${(w.forwardedShare * 100).toFixed(0)} %</td><td>${formatValue(w.series)}</td><td>${w.liveClients}</td><td>${w.updatesPerSec}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${this.#seriesLimit(c.workers)}
      <div class="hists">
        <fp-latency-histogram id="s2s" heading="Sample → screen (browsers)" .data=${c.sampleToScreen}></fp-latency-histogram>
        <fp-latency-histogram id="s2b" heading="Sample → broadcast (server)" .data=${c.sampleToBroadcast}></fp-latency-histogram>
      </div>
    `;
  }
}

/** Sources refused for the series limit on any worker, newest first, merged by source. */
function mergeSeriesLimit(workers: LiveCluster['workers']): { rejections: number; sources: Array<{ source: string; at: number; count: number; workers: number[] }> } {
  const by = new Map<string, { source: string; at: number; count: number; workers: number[] }>();
  let rejections = 0;
  for (const w of workers) {
    if (w.seriesLimit === undefined) continue;
    rejections += w.seriesLimit.rejections;
    for (const h of w.seriesLimit.sources) {
      const e = by.get(h.source) ?? { source: h.source, at: 0, count: 0, workers: [] };
      e.at = Math.max(e.at, h.at);
      e.count += h.count;
      e.workers.push(w.id);
      by.set(h.source, e);
    }
  }
  return { rejections, sources: [...by.values()].sort((a, b) => b.at - a.at) };
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-cluster-view': FpClusterView;
  }
}

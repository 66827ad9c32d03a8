/**
 * <fp-rank-list>: a titled list of sources with values (top/bottom 10); each row links to the
 * source's view. Names render as text.
 * @fires fp-open-source - detail: { source }
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { formatRoute, View } from '../lib/route.js';
import { formatValue } from '../lib/format.js';

export interface RankRow {
  source: string;
  value: number;
}

@customElement('fp-rank-list')
export class FpRankList extends LitElement {
  static override styles = css`
    :host { display: block; background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 8px; padding: 10px 14px; }
    h3 { margin: 0 0 6px; font-size: 13px; color: var(--fp-muted); font-weight: 600; }
    ol { margin: 0; padding: 0; list-style: none; }
    li { display: flex; justify-content: space-between; gap: 8px; padding: 2px 0; border-bottom: 1px solid var(--fp-border); }
    li:last-child { border-bottom: none; }
    a { color: var(--fp-fg); text-decoration: none; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    a:hover { text-decoration: underline; }
    a:focus-visible { outline: 2px solid var(--fp-focus); }
    .v { font-variant-numeric: tabular-nums; color: var(--fp-muted); }
  `;

  @property() heading = '';
  @property() unit = '';
  @property({ attribute: false }) rows: readonly RankRow[] = [];

  override render() {
    return html`<h3>${this.heading}</h3>
      <ol>
        ${this.rows.map(
          (r) => html`<li>
            <a href=${formatRoute({ view: View.Source, source: r.source, sources: [], range: '5m' })}
              @click=${(e: MouseEvent) => {
                if (e.ctrlKey || e.metaKey || e.button !== 0) return;
                e.preventDefault();
                this.dispatchEvent(new CustomEvent('fp-open-source', { detail: { source: r.source }, bubbles: true, composed: true }));
              }}>${r.source}</a>
            <span class="v">${formatValue(r.value, this.unit)}</span>
          </li>`,
        )}
      </ol>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-rank-list': FpRankList;
  }
}

/**
 * <fp-stat-tile>: one number with a label (Fleet view tiles).
 * @property label - what the number is
 * @property value - the formatted value (text)
 * @property tone - '' | 'ok' | 'warn' | 'muted'
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';

@customElement('fp-stat-tile')
export class FpStatTile extends LitElement {
  static override styles = css`
    :host { display: block; background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 8px; padding: 10px 14px; min-width: 120px; }
    .label { color: var(--fp-muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.4px; }
    .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; margin-top: 2px; }
    :host([tone="ok"]) .value { color: var(--fp-ok); }
    :host([tone="warn"]) .value { color: var(--fp-warn); }
    :host([tone="muted"]) .value { color: var(--fp-muted); }
  `;

  @property() label = '';
  @property() value = '–';
  @property({ reflect: true }) tone = '';

  override render() {
    return html`<div class="label">${this.label}</div><div class="value" data-testid="value">${this.value}</div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-stat-tile': FpStatTile;
  }
}

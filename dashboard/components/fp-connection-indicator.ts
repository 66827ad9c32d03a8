/**
 * <fp-connection-indicator>: the live connection's state as a coloured dot and a word.
 * @property state - connecting | live | reconnecting | offline
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { ConnectionState } from '../controllers/live-connection.js';

const LABEL: Record<ConnectionState, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };

@customElement('fp-connection-indicator')
export class FpConnectionIndicator extends LitElement {
  static override styles = css`
    :host { display: inline-flex; align-items: center; gap: 6px; color: var(--fp-muted); font-size: 13px; }
    .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--fp-stale); }
    :host([state="live"]) .dot { background: var(--fp-ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--fp-ok) 25%, transparent); }
    :host([state="reconnecting"]) .dot { background: var(--fp-warn); }
    :host([state="offline"]) .dot { background: var(--fp-bad); }
  `;

  @property({ reflect: true }) state: ConnectionState = ConnectionState.Connecting;

  override render() {
    return html`<span class="dot" aria-hidden="true"></span><span role="status" aria-live="polite">${LABEL[this.state]}</span>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-connection-indicator': FpConnectionIndicator;
  }
}

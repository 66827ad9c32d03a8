/**
 * <fp-login>: the prompt for a read key, shown by the app shell when the server refuses the
 * dashboard's reads (401/403 from the API, or Socket.IO's connect_error). The key is kept in
 * sessionStorage for this tab only (api.ts) and sent as `Authorization: Bearer` to the API and as
 * `auth: {key}` to Socket.IO; the page reloads so every view and the live connection start over
 * with it.
 * @property message - the server's reason ("missing read key…", "unknown read key", …)
 * @property hadKey - a key was already stored (so it was wrong, not missing)
 */
import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { clearReadKey, setReadKey } from '../api.js';
import { panelStyles } from './shared-styles.js';

@customElement('fp-login')
export class FpLogin extends LitElement {
  static override styles = [
    panelStyles,
    css`
      :host { display: block; max-width: 460px; margin: 48px auto; }
      form { display: grid; gap: 10px; }
      label { font-weight: 600; }
      input { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; }
      .actions { display: flex; gap: 8px; justify-content: flex-end; }
    `,
  ];

  @property() message = '';
  @property({ type: Boolean }) hadKey = false;
  @state() private empty = true;

  #submit(e: SubmitEvent): void {
    e.preventDefault();
    const input = this.renderRoot.querySelector('input');
    const key = input?.value.trim() ?? '';
    if (key === '') return;
    setReadKey(key);
    location.reload();
  }

  #forget(): void {
    clearReadKey();
    location.reload();
  }

  override render() {
    return html`<div class="panel" role="dialog" aria-labelledby="login-title">
      <h2 id="login-title">This FleetPulse needs a read key</h2>
      <p class="muted">${this.hadKey ? 'The key this tab used was refused' : 'The server asks for a key to show its data'}${this.message === '' ? '.' : html`: <span class="error">${this.message}</span>`}</p>
      <form @submit=${(e: SubmitEvent) => this.#submit(e)}>
        <label for="key">Read key</label>
        <input id="key" name="key" type="password" autocomplete="current-password" spellcheck="false" autofocus
          @input=${(e: Event) => (this.empty = (e.target as HTMLInputElement).value.trim() === '')} />
        <p class="muted">Kept for this tab only (session storage) and sent to this server alone. Ask your operator for a read key; an ingest key cannot read.</p>
        <div class="actions">
          ${this.hadKey ? html`<button type="button" @click=${() => this.#forget()}>Forget the stored key</button>` : ''}
          <button type="submit" ?disabled=${this.empty}>Sign in</button>
        </div>
      </form>
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-login': FpLogin;
  }
}

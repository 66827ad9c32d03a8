/**
 * <fp-source-picker>: search-as-you-type over the known sources (a combobox with a listbox),
 * keyboard first: ArrowUp/ArrowDown move, Enter picks, Escape closes. What is typed and every
 * name render as text.
 * @property sources - every known source name
 * @property selected - names already picked (not offered again)
 * @fires fp-pick - detail: { source }
 */
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';

const MAX_OPTIONS = 12;

@customElement('fp-source-picker')
export class FpSourcePicker extends LitElement {
  static override styles = css`
    :host { display: inline-block; position: relative; }
    input { font: inherit; color: var(--fp-fg); background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 6px; padding: 5px 10px; width: 240px; }
    input:focus-visible { outline: 2px solid var(--fp-focus); outline-offset: 1px; }
    ul { position: absolute; z-index: 5; left: 0; top: 100%; margin: 2px 0 0; padding: 4px 0; list-style: none; min-width: 240px; max-height: 300px; overflow: auto;
      background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 6px; box-shadow: 0 4px 12px rgba(0, 0, 0, 0.2); }
    li { padding: 4px 10px; cursor: pointer; white-space: nowrap; }
    li[aria-selected="true"] { background: var(--fp-accent); color: var(--fp-panel); }
    .none { color: var(--fp-muted); cursor: default; }
  `;

  @property({ attribute: false }) sources: string[] = [];
  @property({ attribute: false }) selected: string[] = [];
  @state() private text = '';
  @state() private open = false;
  @state() private active = 0;

  #matches(): string[] {
    const t = this.text.toLowerCase();
    const out: string[] = [];
    for (const s of this.sources) {
      if (this.selected.includes(s) || !s.toLowerCase().includes(t)) continue;
      out.push(s);
      if (out.length === MAX_OPTIONS) break;
    }
    return out;
  }

  #pick(source: string | undefined): void {
    if (source === undefined) return;
    this.dispatchEvent(new CustomEvent('fp-pick', { detail: { source }, bubbles: true, composed: true }));
    this.text = '';
    this.active = 0;
  }

  #onKey(e: KeyboardEvent): void {
    const m = this.#matches();
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      this.open = true;
      this.active = Math.min(m.length - 1, this.active + 1);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      this.active = Math.max(0, this.active - 1);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.#pick(m[this.active]);
    } else if (e.key === 'Escape') this.open = false;
  }

  override render() {
    const m = this.open ? this.#matches() : [];
    return html`
      <input type="search" role="combobox" aria-expanded=${this.open ? 'true' : 'false'} aria-controls="opts" aria-autocomplete="list"
        aria-label="Add a source" placeholder="Add a source…" .value=${this.text}
        @input=${(e: Event) => {
          this.text = (e.target as HTMLInputElement).value;
          this.open = true;
          this.active = 0;
        }}
        @focus=${() => (this.open = true)} @blur=${() => setTimeout(() => (this.open = false), 150)} @keydown=${this.#onKey} />
      ${this.open
        ? html`<ul id="opts" role="listbox">
            ${m.length === 0
              ? html`<li class="none" role="option" aria-disabled="true">No source matches “${this.text}”</li>`
              : m.map((s, i) => html`<li role="option" aria-selected=${i === this.active ? 'true' : 'false'} @mousedown=${(e: Event) => { e.preventDefault(); this.#pick(s); }}>${s}</li>`)}
          </ul>`
        : nothing}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-source-picker': FpSourcePicker;
  }
  interface HTMLElementEventMap {
    'fp-pick': CustomEvent<{ source: string }>;
  }
}

/**
 * <fp-app>: the shell. Owns the route (URL ↔ view state, lib/route.ts), the navigation, the
 * connection indicator and the theme; renders one view. Views ask to navigate with `fp-navigate`.
 * Keys: 1–4 switch views (outside text fields); every control is reachable with Tab.
 */
import { LitElement, css, html, type PropertyValues } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { formatRoute, parseRoute, View, type Route } from '../lib/route.js';
import { MetricsStreamController } from '../controllers/metrics-stream-controller.js';
import { api, clearReadKey, readKey, type AuthRequiredDetail } from '../api.js';
import type { MetricAnswer } from '../../node/state/store.js';
import { panelStyles } from './shared-styles.js';
import './fp-connection-indicator.js';
import './fp-fleet-view.js';
import './fp-explore-view.js';
import './fp-source-view.js';
import './fp-cluster-view.js';
import './fp-login.js';

/** Detail of `fp-navigate`: the parts of the route to change. */
export type NavigateDetail = Partial<Route>;

const THEMES = ['auto', 'dark', 'light'] as const;
type Theme = (typeof THEMES)[number];

@customElement('fp-app')
export class FpApp extends LitElement {
  static override styles = [
    panelStyles,
    css`
      :host { display: block; min-height: 100vh; }
      header { display: flex; align-items: center; gap: 18px; padding: 10px 18px; border-bottom: 1px solid var(--fp-border); background: var(--fp-panel); }
      .brand { font-weight: 700; font-size: 16px; letter-spacing: 0.2px; }
      nav { display: flex; gap: 4px; }
      nav a { text-decoration: none; color: var(--fp-muted); padding: 6px 10px; border-radius: 6px; }
      nav a[aria-current="page"] { color: var(--fp-fg); background: var(--fp-bg); font-weight: 600; }
      .spacer { flex: 1; }
      main { padding: 16px 18px; max-width: 1600px; margin: 0 auto; }
    `,
  ];

  @state() private route: Route = parseRoute(location.pathname, location.search);
  @state() private metrics: MetricAnswer[] = [];
  @state() private theme: Theme = (localStorage.getItem('fp-theme') as Theme | null) ?? 'auto';
  /** Set when the server refused our reads: the login prompt replaces the view. */
  @state() private authNeeded: AuthRequiredDetail | undefined;
  readonly #hasKey = readKey() !== undefined;
  readonly #onAuthRequired = (e: Event): void => {
    this.authNeeded = (e as CustomEvent<AuthRequiredDetail>).detail;
  };
  readonly #stream = new MetricsStreamController(this);
  #metricsTimer = 0;

  readonly #onPop = (): void => {
    this.route = parseRoute(location.pathname, location.search);
  };
  readonly #onKey = (e: KeyboardEvent): void => {
    const t = e.composedPath()[0];
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const views = [View.Fleet, View.Explore, View.Source, View.Cluster];
    const i = Number(e.key) - 1;
    if (i >= 0 && i < views.length) this.#navigate({ view: views[i]! });
  };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('popstate', this.#onPop);
    window.addEventListener('keydown', this.#onKey);
    window.addEventListener('fp-auth-required', this.#onAuthRequired);
    this.addEventListener('fp-navigate', (e) => this.#navigate((e as CustomEvent<NavigateDetail>).detail));
    void this.#loadMetrics();
    this.#metricsTimer = window.setInterval(() => void this.#loadMetrics(), 30_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('popstate', this.#onPop);
    window.removeEventListener('keydown', this.#onKey);
    window.removeEventListener('fp-auth-required', this.#onAuthRequired);
    clearInterval(this.#metricsTimer);
  }

  async #loadMetrics(): Promise<void> {
    try {
      this.metrics = await api.metrics();
    } catch {
      /* shown as an empty picker; retried in 30 s */
    }
  }

  #navigate(d: NavigateDetail): void {
    const next: Route = { ...this.route, ...d };
    if (d.view !== undefined && d.view !== this.route.view && d.source === undefined && d.view !== View.Source) delete next.source;
    const url = formatRoute(next);
    if (url !== location.pathname + location.search) history.pushState(null, '', url);
    this.route = parseRoute(location.pathname, location.search);
    window.scrollTo(0, 0);
  }

  protected override updated(changed: PropertyValues): void {
    if (changed.has('theme')) {
      if (this.theme === 'auto') document.documentElement.removeAttribute('data-theme');
      else document.documentElement.setAttribute('data-theme', this.theme);
      localStorage.setItem('fp-theme', this.theme);
      window.dispatchEvent(new Event('fp-theme'));
    }
    document.title = `FleetPulse · ${this.route.view[0]!.toUpperCase()}${this.route.view.slice(1)}`;
  }

  #link(view: View, label: string, key: number) {
    const target: Route = { ...this.route, view };
    if (view !== View.Source) delete target.source;
    const href = formatRoute(target);
    return html`<a href=${href} aria-current=${this.route.view === view ? 'page' : 'false'} title="${label} (key ${key})"
      @click=${(e: MouseEvent) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        this.#navigate({ view });
      }}>${label}</a>`;
  }

  override render() {
    const r = this.route;
    return html`
      <header>
        <span class="brand">FleetPulse</span>
        <nav aria-label="Views">
          ${this.#link(View.Fleet, 'Fleet', 1)} ${this.#link(View.Explore, 'Explore', 2)} ${this.#link(View.Source, 'Source', 3)} ${this.#link(View.Cluster, 'Cluster', 4)}
        </nav>
        <span class="spacer"></span>
        <fp-connection-indicator .state=${this.#stream.state}></fp-connection-indicator>
        <button type="button" title="Theme: follow the system, dark or light" aria-label="Theme ${this.theme}"
          @click=${() => (this.theme = THEMES[(THEMES.indexOf(this.theme) + 1) % THEMES.length]!)}>Theme: ${this.theme}</button>
        ${this.#hasKey ? html`<button type="button" title="Forget this tab's read key" @click=${() => { clearReadKey(); location.reload(); }}>Sign out</button>` : ''}
      </header>
      <main>
        ${this.authNeeded !== undefined
          ? html`<fp-login .message=${this.authNeeded.message} .hadKey=${this.#hasKey}></fp-login>`
          : r.view === View.Fleet
          ? html`<fp-fleet-view .metric=${r.metric ?? pickDefault(this.metrics)} .metrics=${this.metrics}></fp-fleet-view>`
          : r.view === View.Explore
            ? html`<fp-explore-view .metric=${r.metric ?? pickDefault(this.metrics)} .sources=${r.sources} .range=${r.range} .metrics=${this.metrics}></fp-explore-view>`
            : r.view === View.Source
              ? html`<fp-source-view .source=${r.source ?? ''} .range=${r.range}></fp-source-view>`
              : html`<fp-cluster-view></fp-cluster-view>`}
      </main>
    `;
  }
}

/** The metric a view shows when the URL names none: cpu if there is one, else the first. */
function pickDefault(metrics: readonly MetricAnswer[]): string {
  return metrics.find((m) => m.metric === 'cpu')?.metric ?? metrics[0]?.metric ?? '';
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-app': FpApp;
  }
  interface HTMLElementEventMap {
    'fp-navigate': CustomEvent<NavigateDetail>;
  }
}

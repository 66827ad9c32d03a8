/**
 * <fp-heatmap>: every source of the fleet as one square on a canvas, coloured by its latest value
 * (stale sources grey). Drawing is imperative and coalesced to one frame (`invalidate()`), never
 * a Lit re-render per update, and paints pixels into one ImageData (lib/heatmap-paint.ts) rather
 * than a fillRect per cell: 10,000 cells at 4 flushes a second cost a few ms per frame.
 * Hover shows the source and value (as text); click or Enter opens the source; arrow keys move.
 *
 * @fires fp-open-source - detail: { source } when a cell is clicked or Enter is pressed on it
 */
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { cssomStyle } from './cssom-style.js';
import { cellAt, colorIndex, layoutGrid, palette, type FleetCell, type FleetModel, type GridLayout } from '../lib/fleet-model.js';
import { formatValue } from '../lib/format.js';
import { packRgba, paintCells } from '../lib/heatmap-paint.js';

const STEPS = 32;
const COLORS = palette(STEPS);
const MAX_HEIGHT = 520;

@customElement('fp-heatmap')
export class FpHeatmap extends LitElement {
  static override styles = css`
    :host { display: block; position: relative; }
    .wrap { max-height: ${MAX_HEIGHT}px; overflow-y: auto; position: relative; }
    canvas { display: block; cursor: pointer; }
    canvas:focus-visible { outline: 2px solid var(--fp-focus); outline-offset: 2px; }
    .tip {
      position: absolute; pointer-events: none; background: var(--fp-panel); color: var(--fp-fg); border: 1px solid var(--fp-border);
      border-radius: 6px; padding: 4px 8px; font-size: 12px; white-space: nowrap; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2); z-index: 2;
    }
    .legend { display: flex; align-items: center; gap: 8px; margin-top: 8px; font-size: 12px; color: var(--fp-muted); }
    .bar { display: flex; height: 8px; width: 160px; border-radius: 4px; overflow: hidden; }
    .bar span { flex: 1; }
    .empty { color: var(--fp-muted); padding: 24px 0; }
  `;

  /** The model to draw (mutated by the Fleet view; call invalidate() after changes). */
  @property({ attribute: false }) model: FleetModel | undefined;
  @property() unit = '';
  @state() private hover: { cell: FleetCell; x: number; y: number } | undefined;
  @state() private count = 0;
  @query('canvas') private canvas!: HTMLCanvasElement;
  @query('.wrap') private wrap!: HTMLDivElement;
  #layout: GridLayout = { cols: 1, rows: 0, cell: 10, gap: 1 };
  #frame = 0;
  #focus = -1;
  #resize: ResizeObserver | undefined;
  #cells: FleetCell[] = [];
  #range: { min: number; max: number } | undefined;
  #image: ImageData | undefined;
  #cellColors = new Uint32Array(0);
  /** CSS colour → packed RGBA, resolved once each by the browser (any CSS colour syntax works). */
  readonly #packed = new Map<string, number>();
  #probe: CanvasRenderingContext2D | null | undefined;

  /** Redraw at the next animation frame (many calls, one draw). */
  invalidate(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  override firstUpdated(): void {
    this.#resize = new ResizeObserver(() => this.invalidate());
    this.#resize.observe(this);
    this.invalidate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#resize?.disconnect();
    cancelAnimationFrame(this.#frame);
    this.#frame = 0;
  }

  #draw(): void {
    const m = this.model;
    const canvas = this.canvas;
    if (m === undefined || canvas === undefined) return;
    const now = Date.now();
    this.#cells = m.cells();
    if (this.#cells.length !== this.count) this.count = this.#cells.length;
    const width = Math.max(100, this.clientWidth);
    const l = layoutGrid(this.#cells.length, width, MAX_HEIGHT);
    this.#layout = l;
    const dpr = window.devicePixelRatio || 1;
    const h = Math.max(1, l.rows * l.cell);
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${h}px`;
    }
    const ctx = canvas.getContext('2d', { alpha: false });
    if (ctx === null) return;
    const cs = getComputedStyle(this);
    const background = this.#pack(cs.getPropertyValue('--fp-panel').trim() || '#fff');
    const stale = this.#pack(cs.getPropertyValue('--fp-stale').trim() || '#999');
    const r = m.range(now);
    // Re-render the legend only when its text changes (not on every draw).
    if (formatValue(r?.min ?? null) !== formatValue(this.#range?.min ?? null) || formatValue(r?.max ?? null) !== formatValue(this.#range?.max ?? null)) this.requestUpdate();
    this.#range = r;
    const side = l.cell - l.gap;
    const n = this.#cells.length;
    if (this.#cellColors.length < n) this.#cellColors = new Uint32Array(Math.max(n, 2 * this.#cellColors.length));
    const colors = this.#cellColors;
    const scale = COLORS.map((c) => this.#pack(c));
    for (let i = 0; i < n; i++) {
      const c = this.#cells[i]!;
      colors[i] = c.value === null || m.isStale(c, now) || r === undefined ? stale : scale[colorIndex(c.value, r.min, r.max, STEPS)]!;
    }
    if (this.#image?.width !== canvas.width || this.#image.height !== canvas.height) this.#image = ctx.createImageData(canvas.width, canvas.height);
    paintCells(new Uint32Array(this.#image.data.buffer), canvas.width, canvas.height, l, dpr, colors, n, background);
    ctx.putImageData(this.#image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.#focus >= 0 && this.#focus < this.#cells.length) {
      ctx.strokeStyle = cs.getPropertyValue('--fp-focus').trim() || '#06c';
      ctx.lineWidth = 2;
      ctx.strokeRect((this.#focus % l.cols) * l.cell + 1, Math.floor(this.#focus / l.cols) * l.cell + 1, Math.max(2, side - 2), Math.max(2, side - 2));
    }
    if (this.hover !== undefined) this.hover = { ...this.hover, cell: m.get(this.hover.cell.source) ?? this.hover.cell };
  }

  /** Packed RGBA of a CSS colour, as a 1×1 canvas resolves it (cached per string). */
  #pack(css: string): number {
    const known = this.#packed.get(css);
    if (known !== undefined) return known;
    if (this.#probe === undefined) {
      const c = document.createElement('canvas');
      c.width = c.height = 1;
      this.#probe = c.getContext('2d', { willReadFrequently: true });
    }
    let packed = packRgba(153, 153, 153);
    if (this.#probe !== null) {
      this.#probe.clearRect(0, 0, 1, 1);
      this.#probe.fillStyle = css;
      this.#probe.fillRect(0, 0, 1, 1);
      const [r, g, b] = this.#probe.getImageData(0, 0, 1, 1).data;
      packed = packRgba(r!, g!, b!);
    }
    this.#packed.set(css, packed);
    return packed;
  }

  #at(e: MouseEvent): number {
    const rect = this.canvas.getBoundingClientRect();
    return cellAt(this.#layout, e.clientX - rect.left, e.clientY - rect.top, this.#cells.length);
  }

  #onMove(e: MouseEvent): void {
    const i = this.#at(e);
    const wrapRect = this.wrap.getBoundingClientRect();
    this.hover = i < 0 ? undefined : { cell: this.#cells[i]!, x: e.clientX - wrapRect.left + 12, y: e.clientY - wrapRect.top + this.wrap.scrollTop + 12 };
  }

  #open(i: number): void {
    const c = this.#cells[i];
    if (c !== undefined) this.dispatchEvent(new CustomEvent('fp-open-source', { detail: { source: c.source }, bubbles: true, composed: true }));
  }

  #onKey(e: KeyboardEvent): void {
    const n = this.#cells.length;
    if (n === 0) return;
    const step: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: this.#layout.cols, ArrowUp: -this.#layout.cols };
    if (e.key in step) {
      e.preventDefault();
      this.#focus = Math.max(0, Math.min(n - 1, (this.#focus < 0 ? 0 : this.#focus) + step[e.key]!));
      const c = this.#cells[this.#focus]!;
      const l = this.#layout;
      this.hover = { cell: c, x: (this.#focus % l.cols) * l.cell + l.cell + 4, y: Math.floor(this.#focus / l.cols) * l.cell + l.cell + 4 };
      this.invalidate();
    } else if (e.key === 'Enter' && this.#focus >= 0) this.#open(this.#focus);
  }

  override render() {
    const now = Date.now();
    const h = this.hover;
    const r = this.#range;
    return html`
      <div class="wrap">
        <canvas tabindex="0" role="img" aria-label="Heat map of ${this.count} sources; arrow keys move, Enter opens a source"
          @mousemove=${this.#onMove} @mouseleave=${() => (this.hover = undefined)} @click=${(e: MouseEvent) => this.#open(this.#at(e))}
          @keydown=${this.#onKey} @blur=${() => (this.hover = undefined)}></canvas>
        ${h === undefined
          ? nothing
          : html`<div class="tip" ${cssomStyle({ left: `${Math.min(h.x, this.clientWidth - 180)}px`, top: `${h.y}px` })}>
              <strong>${h.cell.source}</strong> · ${formatValue(h.cell.value, this.unit)}${this.model?.isStale(h.cell, now) === true ? ' · stale' : ''}
            </div>`}
      </div>
      ${this.count === 0 ? html`<div class="empty">No sources yet: push samples to /api/v1/ingest.</div>` : nothing}
      <div class="legend">
        <span class="num">${formatValue(r?.min ?? null, this.unit)}</span>
        <span class="bar" aria-hidden="true">${COLORS.filter((_, i) => i % 4 === 0).map((c) => html`<span ${cssomStyle({ background: c })}></span>`)}</span>
        <span class="num">${formatValue(r?.max ?? null, this.unit)}</span>
        <span>· grey = stale</span>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'fp-heatmap': FpHeatmap;
  }
}

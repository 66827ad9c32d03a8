/** Styles shared by the views (panels, buttons, focus rings); adopted as constructable sheets. */
import { css } from 'lit';

export const panelStyles = css`
  :host { display: block; color: var(--fp-fg); }
  .panel { background: var(--fp-panel); border: 1px solid var(--fp-border); border-radius: 8px; padding: 12px 14px; }
  h2 { font-size: 15px; font-weight: 600; margin: 0 0 8px; }
  .muted { color: var(--fp-muted); }
  .row { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
  .grid { display: grid; gap: 12px; }
  button, select, input {
    font: inherit; color: var(--fp-fg); background: var(--fp-panel); border: 1px solid var(--fp-border);
    border-radius: 6px; padding: 5px 10px;
  }
  button { cursor: pointer; }
  button[aria-pressed="true"] { background: var(--fp-accent); color: var(--fp-panel); border-color: var(--fp-accent); }
  :focus-visible { outline: 2px solid var(--fp-focus); outline-offset: 2px; }
  a { color: var(--fp-accent); }
  .error { color: var(--fp-bad); }
  .num { font-variant-numeric: tabular-nums; }
`;

/**
 * `cssomStyle({...})`: inline styles through the CSSOM only. Lit's styleMap writes a `style`
 * attribute on first render, which our Content-Security-Policy (style-src 'self', no
 * 'unsafe-inline') blocks; `element.style.setProperty()` is not subject to it.
 *   html`<span ${cssomStyle({ background: color })}></span>`
 */
import { noChange, nothing } from 'lit';
import { Directive, PartType, directive, type ElementPart, type PartInfo } from 'lit/directive.js';

class CssomStyle extends Directive {
  #prev = new Set<string>();

  constructor(info: PartInfo) {
    super(info);
    if (info.type !== PartType.ELEMENT) throw new Error('cssomStyle() goes on an element: <div ${cssomStyle({...})}>');
  }

  render(_styles: Readonly<Record<string, string>>): typeof nothing {
    return nothing;
  }

  override update(part: ElementPart, [styles]: [Readonly<Record<string, string>>]): typeof noChange {
    const style = (part.element as HTMLElement).style;
    for (const name of this.#prev) if (!(name in styles)) style.removeProperty(name);
    for (const [name, value] of Object.entries(styles)) style.setProperty(name, value);
    this.#prev = new Set(Object.keys(styles));
    return noChange;
  }
}

export const cssomStyle = directive(CssomStyle);

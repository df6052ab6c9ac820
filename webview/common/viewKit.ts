// DOM plumbing shared by the analysis views (logit lens, attention, DLA): their stylesheet, a status
// line, selects, a token strip whose chips focus a position, and export buttons (image through plotly,
// data as text). Token text always goes in through textContent. The page scaffold is analysisPage.ts; the
// plain controls (no plotly) are in controls.ts, re-exported here.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import Plotly from 'plotly.js-strict-dist-min';
import type { ExportFormat } from '../../src/shared/analysisProtocol';
import { el } from './dom';
export { labelled, select, setStatus } from './controls';
export type { ValueElement } from './controls';
import { displayToken } from '../../src/shared/tokenText';

const CSS = `
.views-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; padding: 10px 0 6px; }
.views-toolbar label { color: var(--vscode-descriptionForeground); display: inline-flex; align-items: center; gap: 6px; }
.views-toolbar vscode-single-select { width: 150px; }
.views-toolbar vscode-textfield { width: 220px; max-width: calc(100vw - 110px); }
.views-toolbar .spacer { flex: 1; }
.views-row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.views-row > .plot { flex: 1 1 420px; min-width: min(300px, 100%); }
.plot { width: 100%; min-height: 220px; }
.token.focused { outline: 2px solid var(--vscode-focusBorder); outline-offset: 1px; }
.sum { font-variant-numeric: tabular-nums; margin: 6px 0; }
.sum b { font-weight: 600; }
.arcs { width: 100%; overflow-x: auto; border: 1px solid var(--vscode-panel-border, transparent); border-radius: 4px; }
.arcs svg text { font-family: var(--vscode-editor-font-family); font-size: 11px; fill: var(--vscode-foreground); cursor: pointer; white-space: pre; }
.arcs svg text.focused { fill: var(--vscode-textLink-foreground); font-weight: bold; }
.arcs svg path { fill: none; stroke: var(--vscode-charts-blue); }
.arcs svg path.focused { stroke: var(--vscode-charts-orange); }
.ranked { font-family: var(--vscode-editor-font-family); }
`;

/** The views' shared styles, and `extra` of the page's own after them. */
export function injectStyles(extra = ''): void {
  const style = document.createElement('style');
  style.textContent = CSS + extra;
  document.head.append(style);
}

/**
 * Draws a plotly figure whose layout gives a height (e.g. grown with the number of layers), with the element's CSS
 * height pinned to it. Plotly's resize (window resizes, `responsive`) keeps a layout height only when a width comes
 * with it: otherwise it drops it and takes the element's own CSS height, `.plot`'s 220 px minimum, while the drawing
 * can stay taller for a moment: what follows the plot (the next heading) then lies over its last rows.
 */
export function drawPlot(node: HTMLElement, plot: { data: Array<Record<string, unknown>>; layout: Record<string, unknown> }): Promise<HTMLElement> {
  const height = plot.layout.height;
  node.style.height = typeof height === 'number' ? `${height}px` : '';
  return Plotly.react(node, plot.data, plot.layout, { displayModeBar: false, responsive: true });
}

/** Token chips; a click calls `onFocus(position)`; `decorate` adds more (e.g. the intervention menu on right-click). */
export function renderTokenStrip(
  container: HTMLElement,
  tokens: ReadonlyArray<{ id: number; text: string }>,
  focus: number | undefined,
  onFocus: (pos: number) => void,
  decorate?: (chip: HTMLElement, pos: number, text: string) => void,
): void {
  const chips = tokens.map((t, i) => {
    const chip = el('button', { class: 'token', 'data-pos': String(i), title: `position ${i} · id ${t.id}`, 'aria-pressed': String(i === focus) });
    chip.textContent = displayToken(t.text);
    chip.classList.toggle('focused', i === focus);
    chip.addEventListener('click', () => onFocus(i));
    decorate?.(chip, i, t.text);
    return chip;
  });
  container.replaceChildren(...chips);
}

export type Save = (format: ExportFormat, name: string, data: string) => Promise<void>;

/** Export buttons: PNG/SVG of `plot()` through plotly, JSON/CSV from `data()`. */
export function exportButtons(name: string, plot: () => HTMLElement | undefined, data: () => { json: string; csv: string } | undefined, save: Save, onError: (message: string) => void): HTMLElement {
  const group = el('span', { class: 'exports' });
  const button = (label: string, format: ExportFormat) => {
    const b = el('vscode-button', { secondary: '', 'data-export': format, title: `Export ${format.toUpperCase()}` }, label);
    b.addEventListener('click', () => {
      (async () => {
        if (format === 'png' || format === 'svg') {
          const root = plot();
          if (!root) return;
          // Always SVG from plotly (its PNG path loads a blob: URL, which the webview's CSP forbids); PNG is
          // rasterised here from the SVG data: URL.
          const url = await (Plotly as unknown as PlotlyImageApi).toImage(root, { format: 'svg' });
          await save(format, name, format === 'png' ? await svgToPng(url, root.clientWidth, root.clientHeight, 2) : decodeSvgUrl(url));
        } else {
          const d = data();
          if (d) await save(format, name, format === 'json' ? d.json : d.csv);
        }
      })().catch((err: unknown) => onError(`Export failed: ${err instanceof Error ? err.message : String(err)}`));
    });
    return b;
  };
  group.append(button('PNG', 'png'), button('SVG', 'svg'), button('JSON', 'json'), button('CSV', 'csv'));
  return group;
}

/** Draws an SVG data: URL on a canvas at `scale` and returns a PNG data: URL. */
function svgToPng(svgUrl: string, width: number, height: number, scale: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      const ctx = canvas.getContext('2d');
      if (!ctx) return reject(new Error('no 2d canvas'));
      ctx.fillStyle = getComputedStyle(document.body).backgroundColor || '#ffffff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL('image/png'));
    };
    img.onerror = () => reject(new Error('the plot image could not be loaded'));
    img.src = svgUrl;
  });
}

function decodeSvgUrl(url: string): string {
  const comma = url.indexOf(',');
  const head = url.slice(0, comma);
  const body = url.slice(comma + 1);
  return head.endsWith(';base64') ? atob(body) : decodeURIComponent(body);
}

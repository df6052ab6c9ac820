// Drawing the graph on two stacked 2D canvases: the base (every shown link and node, redrawn on a filter,
// zoom or resize) and an overlay (the hovered or clicked node's links, redrawn on each hover), so a hover
// costs a few hundred strokes whatever the graph's size. Links are drawn one path per (colour, width) bucket.
// The same screen geometry gives the SVG export. Text drawn here is untrusted (labels, tokens): it goes to
// fillText or through escapeXml, never into HTML.
import type { LinkType } from '../../src/shared/graphProtocol';
import { displayToken } from '../../src/shared/tokenText';
import { readTheme } from '../common/theme';
import type { GraphModel, Layout } from './model';
import { bucketColor, bucketWidth, escapeXml, linkBuckets, linkColor, widthBucket } from './model';
import type { LabelColumn, LabelPlacement } from './tokenLabels';
import { placeTokenLabels } from './tokenLabels';

export interface GraphColors {
  dark: boolean;
  foreground: string;
  background: string;
  muted: string;
  grid: string;
  focus: string;
  feature: string;
  error: string;
  embedding: string;
  logit: string;
  pinned: string;
  font: string;
}

export function graphColors(): GraphColors {
  const t = readTheme();
  const style = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const dark = t.kind === 'dark' || t.kind === 'high-contrast';
  return {
    dark,
    foreground: t.foreground,
    background: t.background,
    muted: t.muted,
    grid: dark ? 'rgba(255,255,255,0.07)' : 'rgba(0,0,0,0.06)',
    focus: v('--vscode-focusBorder', dark ? '#0078d4' : '#005fb8'),
    feature: v('--vscode-charts-blue', dark ? '#3794ff' : '#1a85ff'),
    error: dark ? '#8b8b8b' : '#9a9a9a',
    embedding: v('--vscode-charts-purple', '#b180d7'),
    logit: v('--vscode-charts-green', dark ? '#89d185' : '#388a34'),
    pinned: v('--vscode-charts-orange', '#d18616'),
    font: t.fontFamily,
  };
}

const MARGIN = { left: 46, right: 14, top: 14, bottom: 58 };
const LABEL_FONT = (family: string) => `11px ${family}`;
/** A line of 11 px label text, with a little leading. */
const LABEL_LINE = 13;

export interface Transform {
  k: number;
  tx: number;
  ty: number;
}

export class GraphCanvas {
  readonly base = document.createElement('canvas');
  readonly overlay = document.createElement('canvas');
  transform: Transform = { k: 1, tx: 0, ty: 0 };
  width = 0;
  height = 0;
  /** Screen positions (CSS pixels) of the nodes drawn last; NaN for hidden ones. */
  sx = new Float64Array(0);
  sy = new Float64Array(0);
  radius = 4;
  private model: GraphModel | undefined;
  private layout: Layout | undefined;
  private links: Uint8Array = new Uint8Array(0);
  private pinned = new Set<number>();
  private colors: GraphColors | undefined;
  /** Graph positions an active intervention targets: their token labels are underlined. */
  targets = new Set<number>();

  constructor(readonly container: HTMLElement) {
    this.base.className = 'graph-base';
    this.overlay.className = 'graph-overlay';
    this.base.setAttribute('aria-hidden', 'true');
    container.append(this.base, this.overlay);
  }

  setData(model: GraphModel, layout: Layout, links: Uint8Array, pinned: Set<number>): void {
    this.model = model;
    this.layout = layout;
    this.links = links;
    this.pinned = pinned;
  }

  resize(): void {
    const dpr = window.devicePixelRatio || 1;
    this.width = Math.max(200, this.container.clientWidth);
    this.height = Math.max(200, this.container.clientHeight);
    for (const c of [this.base, this.overlay]) {
      c.width = Math.round(this.width * dpr);
      c.height = Math.round(this.height * dpr);
      c.style.width = `${this.width}px`;
      c.style.height = `${this.height}px`;
    }
  }

  private geometry(): { slot: number; rowPx: number } {
    const layout = this.layout!;
    const slots = layout.columnStart[layout.columnStart.length - 1]!;
    return { slot: (this.width - MARGIN.left - MARGIN.right) / Math.max(1, slots), rowPx: (this.height - MARGIN.top - MARGIN.bottom) / layout.nRows };
  }

  /** Layout units to screen pixels, with the zoom transform. */
  private toScreen(x: number, y: number): [number, number] {
    const { slot, rowPx } = this.geometry();
    const { k, tx, ty } = this.transform;
    const bx = MARGIN.left + x * slot;
    const by = this.height - MARGIN.bottom - (y + 0.5) * rowPx;
    return [bx * k + tx, by * k + ty];
  }

  /** Redraws every shown link and node. */
  drawBase(colors: GraphColors): void {
    this.colors = colors;
    const model = this.model;
    const layout = this.layout;
    if (!model || !layout) return;
    const ctx = this.context(this.base);
    const n = model.nodes.length;
    this.sx = new Float64Array(n);
    this.sy = new Float64Array(n);
    for (let i = 0; i < n; i++) [this.sx[i], this.sy[i]] = Number.isNaN(layout.x[i]!) ? [NaN, NaN] : this.toScreen(layout.x[i]!, layout.y[i]!);
    const { slot, rowPx } = this.geometry();
    this.radius = Math.max(2, Math.min(9, slot * this.transform.k * 0.36, rowPx * this.transform.k * 0.28));

    // Row guides and labels (layers), fixed on the left.
    ctx.font = `11px ${colors.font}`;
    ctx.textBaseline = 'middle';
    for (let r = 0; r < layout.nRows; r++) {
      const [, y] = this.toScreen(0, r);
      if (y < 0 || y > this.height - MARGIN.bottom + 4) continue;
      ctx.fillStyle = colors.grid;
      ctx.fillRect(MARGIN.left, y - 0.5, this.width - MARGIN.left, 1);
      ctx.fillStyle = colors.muted;
      ctx.textAlign = 'right';
      ctx.fillText(model.rowLabels[r]!, MARGIN.left - 6, y);
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, 0, this.width - MARGIN.left, this.height - MARGIN.bottom + 8);
    ctx.clip();
    for (const [key, list] of linkBuckets(model, this.links)) {
      ctx.strokeStyle = bucketColor(key % 100, colors.dark);
      ctx.lineWidth = bucketWidth(Math.floor(key / 100));
      ctx.globalAlpha = 0.35 + 0.5 * (Math.floor(key / 100) / 8);
      ctx.beginPath();
      for (const l of list) {
        ctx.moveTo(this.sx[model.source[l]!]!, this.sy[model.source[l]!]!);
        ctx.lineTo(this.sx[model.target[l]!]!, this.sy[model.target[l]!]!);
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    for (let i = 0; i < n; i++) if (!Number.isNaN(this.sx[i]!)) this.drawNode(ctx, i, this.radius, colors);
    ctx.restore();
    this.drawTokens(ctx, model, layout, colors);
  }

  /** Where the token labels go at the current zoom and width (tokenLabels.ts); the same for the canvas and the SVG. */
  labelPlacements(measure: (s: string) => number): LabelPlacement[] {
    const model = this.model;
    const layout = this.layout;
    if (!model || !layout) return [];
    const columns: LabelColumn[] = [];
    for (let p = 0; p < model.nPositions; p++) {
      const [x0] = this.toScreen(layout.columnStart[p]!, 0);
      const [x1] = this.toScreen(layout.columnStart[p + 1]!, 0);
      columns.push({ pos: p, x0, x1, text: displayToken(model.tokens[p] ?? '') });
    }
    return placeTokenLabels(columns, measure, { left: MARGIN.left, right: this.width, top: this.height - MARGIN.bottom, height: MARGIN.bottom, lineHeight: LABEL_LINE });
  }

  /** The token labels drawn last (tests read their boxes). */
  labels: LabelPlacement[] = [];

  private drawTokens(ctx: CanvasRenderingContext2D, model: GraphModel, layout: Layout, colors: GraphColors): void {
    ctx.save();
    ctx.beginPath();
    ctx.rect(MARGIN.left, this.height - MARGIN.bottom, this.width - MARGIN.left, MARGIN.bottom);
    ctx.clip();
    ctx.font = LABEL_FONT(colors.font);
    ctx.textBaseline = 'top';
    const widths = new Map<string, number>();
    const measure = (s: string) => {
      let w = widths.get(s);
      if (w === undefined) widths.set(s, (w = ctx.measureText(s).width));
      return w;
    };
    this.labels = this.labelPlacements(measure);
    ctx.fillStyle = colors.foreground;
    for (const l of this.labels) {
      if (l.angle === 0) {
        ctx.textAlign = 'center';
        ctx.fillText(l.text, l.x, l.y);
      } else {
        // Narrow columns: every label slants down to the right from under its column.
        ctx.save();
        ctx.translate(l.x, l.y);
        ctx.rotate(l.angle);
        ctx.textAlign = 'left';
        ctx.fillText(l.text, 0, 0);
        ctx.restore();
      }
    }
    const y = this.height - MARGIN.bottom + 8;
    for (let p = 0; p < model.nPositions; p++) {
      const [x0] = this.toScreen(layout.columnStart[p]!, 0);
      const [x1] = this.toScreen(layout.columnStart[p + 1]!, 0);
      if (x1 < MARGIN.left || x0 > this.width) continue;
      if (this.targets.has(p)) {
        // The token an intervention targets (the other views underline it the same way).
        ctx.fillStyle = colors.pinned;
        ctx.fillRect(x0 + 2, y - 4, Math.max(2, x1 - x0 - 4), 2);
      }
      ctx.fillStyle = colors.grid;
      ctx.fillRect(x1 - 0.5, 0, 1, this.height - MARGIN.bottom);
    }
    ctx.restore();
  }

  /** The prompt position whose token label (the band under the graph) is at a screen point, or -1. */
  tokenAt(x: number, y: number): number {
    const model = this.model;
    const layout = this.layout;
    if (!model || !layout || y < this.height - MARGIN.bottom || y > this.height || x < MARGIN.left) return -1;
    for (let p = 0; p < model.nPositions; p++) {
      const [x0] = this.toScreen(layout.columnStart[p]!, 0);
      const [x1] = this.toScreen(layout.columnStart[p + 1]!, 0);
      if (x >= x0 && x < x1) return p;
    }
    return -1;
  }

  /** The band under position p's column where its token label is (CSS pixels in the canvas), clipped to the view. */
  tokenRect(p: number): { left: number; top: number; width: number; height: number } {
    const layout = this.layout!;
    const [x0] = this.toScreen(layout.columnStart[p]!, 0);
    const [x1] = this.toScreen(layout.columnStart[p + 1]!, 0);
    const left = Math.max(MARGIN.left, Math.min(x0, this.width - 8));
    return { left, top: this.height - MARGIN.bottom, width: Math.max(8, Math.min(x1, this.width) - left), height: MARGIN.bottom };
  }

  private drawNode(ctx: CanvasRenderingContext2D, i: number, r: number, colors: GraphColors): void {
    const node = this.model!.nodes[i]!;
    const x = this.sx[i]!;
    const y = this.sy[i]!;
    ctx.beginPath();
    nodePath(ctx, node.kind, x, y, r);
    ctx.fillStyle = node.kind === 'feature' ? colors.feature : node.kind === 'error' ? colors.error : node.kind === 'embedding' ? colors.embedding : node.kind === 'logit' ? colors.logit : colors.background;
    ctx.fill();
    ctx.lineWidth = this.pinned.has(i) ? 2.5 : 1;
    ctx.strokeStyle = this.pinned.has(i) ? colors.pinned : colors.background;
    ctx.stroke();
  }

  /** Redraws the overlay: `active`'s links (by link type) over a dimmed base, and the clicked node's ring. */
  drawOverlay(active: number, clicked: number, linkType: LinkType): void {
    const ctx = this.context(this.overlay);
    const model = this.model;
    const colors = this.colors;
    if (!model || !colors) return;
    if (active >= 0 && !Number.isNaN(this.sx[active]!)) {
      ctx.fillStyle = colors.background;
      ctx.globalAlpha = 0.62;
      ctx.fillRect(0, 0, this.width, this.height - MARGIN.bottom);
      ctx.globalAlpha = 1;
      const ends: number[] = [active];
      const draw = (start: Int32Array, list: Int32Array, other: Int32Array) => {
        for (let k = start[active]!; k < start[active + 1]!; k++) {
          const l = list[k]!;
          if (!this.links[l]) continue;
          const o = other[l]!;
          ctx.strokeStyle = linkColor(model.pct[l]!, colors.dark);
          ctx.lineWidth = bucketWidth(widthBucket(model.pct[l]!)) + 1;
          ctx.beginPath();
          ctx.moveTo(this.sx[active]!, this.sy[active]!);
          ctx.lineTo(this.sx[o]!, this.sy[o]!);
          ctx.stroke();
          ends.push(o);
        }
      };
      if (linkType !== 'output') draw(model.inStart, model.inLinks, model.source);
      if (linkType !== 'input') draw(model.outStart, model.outLinks, model.target);
      for (const i of ends) this.drawNode(ctx, i, this.radius, colors);
      this.ring(ctx, active, colors.foreground);
    }
    if (clicked >= 0 && !Number.isNaN(this.sx[clicked]!)) this.ring(ctx, clicked, colors.focus);
  }

  private ring(ctx: CanvasRenderingContext2D, i: number, color: string): void {
    ctx.beginPath();
    ctx.arc(this.sx[i]!, this.sy[i]!, this.radius + 3.5, 0, 2 * Math.PI);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
  }

  private context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
    const ctx = canvas.getContext('2d')!;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    return ctx;
  }

  /** The shown node under a screen point (CSS pixels in the canvas), or -1. */
  nodeAt(x: number, y: number): number {
    let best = -1;
    let bestD = (this.radius + 4) ** 2;
    for (let i = 0; i < this.sx.length; i++) {
      const dx = this.sx[i]! - x;
      const dy = this.sy[i]! - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Zooms by `factor` about a screen point. */
  zoomAt(x: number, y: number, factor: number): void {
    const t = this.transform;
    const k = Math.max(0.5, Math.min(40, t.k * factor));
    const f = k / t.k;
    this.transform = { k, tx: x - (x - t.tx) * f, ty: y - (y - t.ty) * f };
  }

  pan(dx: number, dy: number): void {
    this.transform = { ...this.transform, tx: this.transform.tx + dx, ty: this.transform.ty + dy };
  }

  /** Both layers on one canvas with the background (PNG export). */
  composite(scale = 2): HTMLCanvasElement {
    const out = document.createElement('canvas');
    out.width = Math.round(this.width * scale);
    out.height = Math.round(this.height * scale);
    const ctx = out.getContext('2d')!;
    ctx.fillStyle = this.colors?.background ?? '#ffffff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(this.base, 0, 0, out.width, out.height);
    ctx.drawImage(this.overlay, 0, 0, out.width, out.height);
    return out;
  }

  /** The view as SVG: the same links, nodes and token labels as on screen. */
  toSvg(): string {
    const model = this.model;
    const layout = this.layout;
    const colors = this.colors;
    if (!model || !layout || !colors) return '';
    const f = (v: number) => v.toFixed(1);
    const parts: string[] = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}" font-family="${escapeXml(colors.font)}" font-size="11">`,
      `<rect width="100%" height="100%" fill="${escapeXml(colors.background)}"/>`,
    ];
    for (const [key, list] of linkBuckets(model, this.links)) {
      const d = list.map((l) => `M${f(this.sx[model.source[l]!]!)} ${f(this.sy[model.source[l]!]!)}L${f(this.sx[model.target[l]!]!)} ${f(this.sy[model.target[l]!]!)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${bucketColor(key % 100, colors.dark)}" stroke-width="${bucketWidth(Math.floor(key / 100)).toFixed(2)}" stroke-opacity="${(0.35 + 0.5 * (Math.floor(key / 100) / 8)).toFixed(2)}"/>`);
    }
    const fills: Record<string, string> = { feature: colors.feature, error: colors.error, embedding: colors.embedding, logit: colors.logit, other: colors.background };
    model.nodes.forEach((node, i) => {
      if (Number.isNaN(this.sx[i]!)) return;
      const x = this.sx[i]!;
      const y = this.sy[i]!;
      const r = this.radius;
      const stroke = this.pinned.has(i) ? ` stroke="${escapeXml(colors.pinned)}" stroke-width="2.5"` : '';
      const title = `<title>${escapeXml(node.clerp || node.id)}</title>`;
      const fill = escapeXml(fills[node.kind]!);
      if (node.kind === 'feature' || node.kind === 'other') parts.push(`<circle cx="${f(x)}" cy="${f(y)}" r="${f(r)}" fill="${fill}"${stroke}>${title}</circle>`);
      else if (node.kind === 'logit') parts.push(`<path d="M${f(x)} ${f(y - r * 1.3)}L${f(x + r * 1.3)} ${f(y)}L${f(x)} ${f(y + r * 1.3)}L${f(x - r * 1.3)} ${f(y)}Z" fill="${fill}"${stroke}>${title}</path>`);
      else parts.push(`<rect x="${f(x - r)}" y="${f(y - r)}" width="${f(2 * r)}" height="${f(2 * r)}" rx="${node.kind === 'embedding' ? f(r / 2) : '0'}" fill="${fill}"${stroke}>${title}</rect>`);
    });
    // The labels as on screen (placed with the canvas's text widths); cut ones carry the whole token as a title.
    for (const l of this.labels) {
      const full = displayToken(model.tokens[l.pos] ?? '');
      const title = l.text === full ? '' : `<title>${escapeXml(full)}</title>`;
      const rotate = l.angle === 0 ? '' : ` transform="rotate(${f((l.angle * 180) / Math.PI)} ${f(l.x)} ${f(l.y)})"`;
      parts.push(`<text x="${f(l.x)}" y="${f(l.y)}" dominant-baseline="text-before-edge" text-anchor="${l.angle === 0 ? 'middle' : 'start'}"${rotate} fill="${escapeXml(colors.foreground)}" xml:space="preserve">${title}${escapeXml(l.text)}</text>`);
    }
    model.rowLabels.forEach((label, r) => {
      const [, y] = this.toScreen(0, r);
      parts.push(`<text x="${MARGIN.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="${escapeXml(colors.muted)}">${escapeXml(label)}</text>`);
    });
    parts.push('</svg>');
    return parts.join('\n');
  }
}

/** Node shapes by kind: feature circle, error square, embedding rounded square, logit diamond, other ring. */
export function nodePath(ctx: CanvasRenderingContext2D | Path2D, kind: string, x: number, y: number, r: number): void {
  switch (kind) {
    case 'error':
      ctx.rect(x - r * 0.9, y - r * 0.9, r * 1.8, r * 1.8);
      break;
    case 'embedding':
      ctx.roundRect(x - r, y - r, 2 * r, 2 * r, r / 2);
      break;
    case 'logit':
      ctx.moveTo(x, y - r * 1.3);
      ctx.lineTo(x + r * 1.3, y);
      ctx.lineTo(x, y + r * 1.3);
      ctx.lineTo(x - r * 1.3, y);
      ctx.closePath();
      break;
    default:
      ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
}

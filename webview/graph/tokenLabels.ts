// Where the prompt's token labels go in the band under the graph (pure, unit-tested; render.ts draws them on the
// canvas and in the SVG export). When every label fits its column they are written flat, centred; otherwise all
// of them slant at one angle, steeper the narrower the columns, and labels are left out (the last position's
// kept) until neighbours are a line apart, each cut with … to what fits the band. A left-out or cut label's
// column still takes clicks (the token menu) and its hover shows the whole token.

export interface LabelColumn {
  pos: number;
  /** Left and right edges of the position's column on screen (CSS pixels, after zoom and pan). */
  x0: number;
  x1: number;
  /** The token as displayed (displayToken). */
  text: string;
}

export interface LabelBand {
  /** The band's left and right edges (what is drawn beyond is clipped) and its top and height. */
  left: number;
  right: number;
  top: number;
  height: number;
  /** Height of a line of label text (the font's size plus leading). */
  lineHeight: number;
}

export interface LabelPlacement {
  pos: number;
  /** What is drawn: the token, or its start and … */
  text: string;
  /** Anchor of the text (textBaseline top): its centre when flat, its start when slanted. */
  x: number;
  y: number;
  /** Clockwise rotation in radians (0 flat; slanted labels run down to the right). */
  angle: number;
  /** The four corners of the drawn text's box on screen (for tests: no two labels' boxes overlap). */
  corners: Array<[number, number]>;
}

/** Longest label drawn, in characters (longer tokens are cut; the hover shows them whole). */
export const MAX_LABEL_CHARS = 14;
const PAD = 2;
const MIN_ANGLE = Math.PI / 5;

/** `text` cut with … to at most `max` pixels wide ('' when not even one character and … fit). */
export function ellipsize(text: string, max: number, measure: (s: string) => number): string {
  const chars = Array.from(text);
  let s = chars.length > MAX_LABEL_CHARS ? `${chars.slice(0, MAX_LABEL_CHARS - 1).join('')}…` : text;
  if (measure(s) <= max) return s;
  let n = Math.min(chars.length, MAX_LABEL_CHARS - 1);
  while (n > 0) {
    s = `${chars.slice(0, n).join('')}…`;
    if (measure(s) <= max) return s;
    n--;
  }
  return '';
}

/** The slant for columns `spacing` pixels apart: steep enough that neighbouring labels are a line apart, at least 36°. */
export function slantAngle(spacing: number, lineHeight: number): number {
  if (spacing <= lineHeight) return Math.PI / 2;
  return Math.max(MIN_ANGLE, Math.asin(lineHeight / spacing));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** The labels of the columns on screen: flat when all fit, else slanted, thinned and cut (see the file's comment). */
export function placeTokenLabels(columns: readonly LabelColumn[], measure: (s: string) => number, band: LabelBand): LabelPlacement[] {
  const LH = band.lineHeight;
  const y = band.top + 8;
  const shown = columns.filter((c) => c.x1 >= band.left && c.x0 <= band.right && c.x1 > c.x0);
  const flat = shown.map((c) => ({ c, text: ellipsize(c.text, Infinity, measure) }));
  if (flat.every(({ c, text }) => measure(text) <= c.x1 - c.x0 - PAD)) {
    return flat
      .filter(({ text }) => text.length > 0)
      .map(({ c, text }) => {
        const cx = (c.x0 + c.x1) / 2;
        const w = measure(text);
        return { pos: c.pos, text, x: cx, y, angle: 0, corners: [[cx - w / 2, y], [cx + w / 2, y], [cx + w / 2, y + LH], [cx - w / 2, y + LH]] };
      });
  }
  const angle = slantAngle(median(shown.map((c) => c.x1 - c.x0)), LH);
  const sin = Math.sin(angle);
  const cos = Math.cos(angle);
  // Anchors a line (and a pixel) apart across the slant: their boxes cannot meet.
  const gap = (LH + 1) / sin;
  const out: LabelPlacement[] = [];
  let last = Infinity;
  // From the right: the last position (the prediction's) always keeps its label.
  for (let k = shown.length - 1; k >= 0; k--) {
    const c = shown[k]!;
    // The start edge of the box (LH long, across the slant) is centred under the column.
    const x = (c.x0 + c.x1) / 2 + (LH / 2) * sin;
    if (last - x < gap || x < band.left) continue;
    const room = Math.min(
      (band.top + band.height - y - LH * cos) / sin,
      cos > 1e-6 ? (band.right - x) / cos : Infinity,
    );
    const text = ellipsize(c.text, room, measure);
    if (!text) continue;
    const w = measure(text);
    const at = (u: number, v: number): [number, number] => [x + u * cos - v * sin, y + u * sin + v * cos];
    out.push({ pos: c.pos, text, x, y, angle, corners: [at(0, 0), at(w, 0), at(w, LH), at(0, LH)] });
    last = x;
  }
  return out.reverse();
}

/** Whether two convex polygons (e.g. label boxes) overlap by more than `slack` pixels (separating axes). */
export function polygonsOverlap(a: ReadonlyArray<[number, number]>, b: ReadonlyArray<[number, number]>, slack = 0.5): boolean {
  for (const poly of [a, b]) {
    for (let i = 0; i < poly.length; i++) {
      const [x1, y1] = poly[i]!;
      const [x2, y2] = poly[(i + 1) % poly.length]!;
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const nx = -(y2 - y1) / len;
      const ny = (x2 - x1) / len;
      const project = (p: ReadonlyArray<[number, number]>) => p.map(([x, y]) => x * nx + y * ny);
      const pa = project(a);
      const pb = project(b);
      if (Math.max(...pa) - slack <= Math.min(...pb) || Math.max(...pb) - slack <= Math.min(...pa)) return false;
    }
  }
  return true;
}

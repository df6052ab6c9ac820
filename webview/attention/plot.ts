// Attention view, pure data -> plot (unit-tested): one head's pattern as a query x key matrix, the
// layers x heads grid of head-detector scores and its ranking, and the geometry of the token-to-token arc
// view (tokens on a line, an arc from each key to each query it feeds, opacity = attention weight).
import type { HeadKind, TokenView } from '../../src/shared/analysisProtocol';
import { plotToken, plotlyEscape, tokenTicks } from '../common/plotText';
import type { ThemeColors } from '../common/theme';
import { chartLayout } from '../common/theme';
import { layerHeadHeatmap, sequential } from '../common/chart';
import type { Plot } from '../common/chart';

export const HEAD_KIND_LABELS: Record<HeadKind, string> = {
  previous_token: 'previous-token',
  duplicate_token: 'duplicate-token',
  induction: 'induction',
};

/** The patterns a view has: `patterns[layer]`, flat [head][query][key]; the panel holds a few layers at a time (issue #13). */
export interface Patterns {
  tokens: TokenView[];
  patterns: ReadonlyArray<Float32Array | undefined>;
}

/**
 * The layers' patterns a panel holds (issue #13): the least recently used are dropped beyond `budget` bytes, the
 * newest is always kept. At T = 1024 on GPT-2 small a layer is 48 MiB; a short prompt's every layer fits.
 */
export class PatternCache {
  private readonly layers = new Map<number, Float32Array>();

  constructor(private readonly budget: number) {}

  get(layer: number): Float32Array | undefined {
    const p = this.layers.get(layer);
    if (p) {
      this.layers.delete(layer);
      this.layers.set(layer, p);
    }
    return p;
  }

  has(layer: number): boolean {
    return this.layers.has(layer);
  }

  set(layer: number, pattern: Float32Array): void {
    this.layers.delete(layer);
    this.layers.set(layer, pattern);
    let bytes = 0;
    for (const p of this.layers.values()) bytes += p.byteLength;
    for (const [l, p] of this.layers) {
      if (bytes <= this.budget) break;
      if (l === layer) continue;
      this.layers.delete(l);
      bytes -= p.byteLength;
    }
  }

  clear(): void {
    this.layers.clear();
  }

  /** The layers held, least recently used first. */
  held(): number[] {
    return [...this.layers.keys()];
  }
}

/** Head `head` of layer `layer`: [query][key]. */
export function patternMatrix(v: Patterns, layer: number, head: number): number[][] {
  const T = v.tokens.length;
  const flat = v.patterns[layer];
  if (!flat) throw new RangeError(`layer ${layer} is out of range`);
  const off = head * T * T;
  if (off + T * T > flat.length) throw new RangeError(`head ${head} is out of range`);
  return Array.from({ length: T }, (_, q) => Array.from({ length: T }, (_, k) => flat[off + q * T + k]!));
}

/** Longest prompt whose heatmap cells carry their tokens in the hover (one string per cell: T² of them). */
export const HOVER_TOKENS_MAX_T = 256;

export function patternHeatmap(v: Patterns, layer: number, head: number, theme: ThemeColors, focus?: number): Plot {
  const z = patternMatrix(v, layer, head);
  const T = v.tokens.length;
  const base = chartLayout(theme);
  const ticks = tokenTicks(v.tokens);
  const shapes =
    focus !== undefined && focus >= 0 && focus < T
      ? [
          { type: 'rect', x0: -0.5, x1: T - 0.5, y0: focus - 0.5, y1: focus + 0.5, line: { color: theme.accent, width: 2 } },
          { type: 'rect', x0: focus - 0.5, x1: focus + 0.5, y0: -0.5, y1: T - 0.5, line: { color: theme.accent, width: 1, dash: 'dot' } },
        ]
      : [];
  return {
    data: [
      {
        type: 'heatmap',
        z,
        x: Array.from({ length: T }, (_, i) => i),
        y: Array.from({ length: T }, (_, i) => i),
        ...(T <= HOVER_TOKENS_MAX_T
          ? {
              customdata: z.map((row, q) => row.map((_, k) => `query ${q} ${plotToken(v.tokens[q]?.text ?? '')} ← key ${k} ${plotToken(v.tokens[k]?.text ?? '')}`)),
              hovertemplate: '%{customdata}<br>attention %{z:.3f}<extra></extra>',
            }
          : { hovertemplate: 'query %{y} ← key %{x}<br>attention %{z:.3f}<extra></extra>' }),
        zmin: 0,
        zmax: 1,
        colorscale: sequential(theme),
        colorbar: { thickness: 10, outlinewidth: 0 },
      },
    ],
    layout: {
      ...base,
      xaxis: { ...(base.xaxis as object), ...ticks, title: { text: 'key (attended to)' }, tickangle: -45 },
      yaxis: { ...(base.yaxis as object), ...ticks, title: { text: 'query' }, autorange: 'reversed' },
      shapes,
      height: Math.max(300, Math.min(700, 16 * T + 140)),
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}

/** Heads ranked by a detector score, best first. */
export function rankHeads(scores: number[][], limit = Infinity): Array<{ layer: number; head: number; score: number; label: string }> {
  // A head without a score (a layer not scored yet, a prompt without repeated tokens: NaN) is not ranked.
  const all = scores.flatMap((row, layer) => row.map((score, head) => ({ layer, head, score, label: `L${layer}H${head}` }))).filter((h) => Number.isFinite(h.score));
  all.sort((a, b) => b.score - a.score || a.layer - b.layer || a.head - b.head);
  return all.slice(0, limit);
}

export function headGrid(scores: number[][], kind: HeadKind, theme: ThemeColors, selected?: { layer: number; head: number }): Plot {
  const shapes = selected ? [{ type: 'rect', x0: selected.head - 0.5, x1: selected.head + 0.5, y0: selected.layer - 0.5, y1: selected.layer + 0.5, line: { color: theme.accent, width: 3 } }] : [];
  // A layer not scored yet has an empty row: NaN cells, drawn blank.
  const H = Math.max(0, ...scores.map((row) => row.length));
  const z = scores.map((row) => (row.length === H ? row : Array.from({ length: H }, (_, h) => row[h] ?? NaN)));
  const plot = layerHeadHeatmap(
    z,
    theme,
    {
      zmin: 0,
      zmax: 1,
      colorscale: sequential(theme),
      hovertemplate: `L%{y}H%{x}: ${plotlyEscape(HEAD_KIND_LABELS[kind])} score %{z:.3f}<extra></extra>`,
    },
    shapes,
  );
  const trace = plot.data[0] as { text?: string[][] };
  trace.text = trace.text?.map((row) => row.map((t) => (t === 'NaN' ? '' : t)));
  return plot;
}

export interface Arc {
  query: number;
  key: number;
  weight: number;
  head: number;
  /** SVG path from the key's x to the query's x, an arc above the baseline. */
  d: string;
}

export interface ArcLayout {
  width: number;
  height: number;
  baseline: number;
  /** x centre of each token. */
  xs: number[];
  arcs: Arc[];
}

/**
 * Arcs for heads `heads` of `layer` with weight >= `threshold` (self-attention skipped: it has no arc).
 * Tokens are `step` px apart; an arc's height grows with the square root of its span.
 */
export function arcLayout(v: Patterns, layer: number, heads: number[], threshold = 0.1, step = 56): ArcLayout {
  const T = v.tokens.length;
  const xs = Array.from({ length: T }, (_, i) => step / 2 + i * step);
  const maxSpan = Math.max(1, T - 1);
  const top = 12;
  const maxArc = Math.min(160, step * maxSpan * 0.5);
  const baseline = top + maxArc;
  const arcs: Arc[] = [];
  for (const head of heads) {
    const m = patternMatrix(v, layer, head);
    for (let q = 0; q < T; q++) {
      for (let k = 0; k < q; k++) {
        const w = m[q]![k]!;
        if (w < threshold) continue;
        const x0 = xs[k]!;
        const x1 = xs[q]!;
        // sqrt: short arcs (previous-token heads) stay visible next to long ones (induction heads).
        const h = Math.max(6, maxArc * Math.sqrt((q - k) / maxSpan));
        const mid = (x0 + x1) / 2;
        arcs.push({ query: q, key: k, weight: w, head, d: `M ${x0} ${baseline} Q ${mid} ${baseline - 2 * h} ${x1} ${baseline}` });
      }
    }
  }
  arcs.sort((a, b) => a.weight - b.weight);
  return { width: step * T, height: baseline + 28, baseline, xs, arcs };
}

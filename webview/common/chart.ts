// Pure data -> plot pieces shared by the views: the top-k next-token bar chart and the layers x heads
// heatmap. No DOM here (unit-tested).
import type { TopToken } from '../../src/shared/protocol';
import type { ThemeColors } from './theme';
import { chartLayout } from './theme';
import { displayToken, formatProb } from '../../src/shared/tokenText';

/** A plotly figure: traces and layout. */
export interface Plot {
  data: Array<Record<string, unknown>>;
  layout: Record<string, unknown>;
}

export type BarChart = Plot;

/** A sequential colour scale from the theme's background (0) to its accent (1): probabilities, attention. */
export function sequential(theme: ThemeColors): Array<[number, string]> {
  return [
    [0, theme.background],
    [1, theme.accent],
  ];
}

/**
 * A layers x heads heatmap (layer 0 on top, heads across), each cell labelled with its value: the
 * head-detector grid and the per-head direct logit attribution both draw this; with `columns`, another
 * axis across (the causal view's layers x positions, labelled by token).
 */
export function layerHeadHeatmap(
  z: number[][],
  theme: ThemeColors,
  scale: { zmin: number; zmax: number; colorscale: Array<[number, string]>; hovertemplate: string; digits?: number },
  shapes: Array<Record<string, unknown>> = [],
  columns?: { labels: string[]; title: string; rows?: number[] },
): Plot {
  const base = chartLayout(theme);
  const L = z.length;
  const H = z[0]?.length ?? 0;
  const heads = Array.from({ length: H }, (_, h) => h);
  const layers = columns?.rows ?? Array.from({ length: L }, (_, l) => l);
  return {
    data: [
      {
        type: 'heatmap',
        z,
        x: heads,
        y: layers,
        text: z.map((row) => row.map((v) => v.toFixed(scale.digits ?? 2))),
        texttemplate: '%{text}',
        hovertemplate: scale.hovertemplate,
        zmin: scale.zmin,
        zmax: scale.zmax,
        colorscale: scale.colorscale,
        colorbar: { thickness: 10, outlinewidth: 0 },
        xgap: 2,
        ygap: 2,
      },
    ],
    layout: {
      ...base,
      xaxis: { ...(base.xaxis as object), tickvals: heads, ticktext: columns?.labels ?? heads.map((h) => `H${h}`), title: { text: columns?.title ?? 'head' }, side: 'top' },
      yaxis: { ...(base.yaxis as object), tickvals: layers, ticktext: layers.map((l) => `L${l}`), title: { text: 'layer' }, autorange: 'reversed' },
      shapes,
      height: Math.max(200, 40 * L + 90),
      margin: { l: 8, r: 8, t: 8, b: 8 },
    },
  };
}

/** Horizontal bars, most likely token on top; labels made unique (plotly merges equal category names). */
export function topTokensChart(top: readonly TopToken[], theme: ThemeColors, title?: string): BarChart {
  const rows = [...top].sort((a, b) => b.prob - a.prob);
  const seen = new Map<string, number>();
  const labels = rows.map((t) => {
    const base = displayToken(t.text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base} (#${t.id})`;
  });
  const layout = chartLayout(theme);
  return {
    data: [
      {
        type: 'bar',
        orientation: 'h',
        x: rows.map((t) => t.prob),
        y: labels,
        text: rows.map((t) => formatProb(t.prob)),
        textposition: 'auto',
        hovertext: rows.map((t) => `id ${t.id} · logit ${t.logit.toFixed(3)}`),
        hoverinfo: 'y+text',
        marker: { color: theme.accent },
      },
    ],
    layout: {
      ...layout,
      title: title ? { text: title, font: { size: theme.fontSize } } : undefined,
      xaxis: { ...(layout.xaxis as object), range: [0, Math.min(1, Math.max(0.05, (rows[0]?.prob ?? 0) * 1.1))], tickformat: '.0%', title: { text: 'probability' } },
      yaxis: { ...(layout.yaxis as object), autorange: 'reversed', type: 'category' },
      height: Math.max(160, 28 * rows.length + 60),
    },
  };
}
